// The spec's "Getting started", followed in apps made by today's `sv create` (a TypeScript
// one and a JSDoc one) with only the edits the README's "In a SvelteKit app" shows: the
// package installed under the name `svelte-realtime` (an npm alias; here to the packed
// tarball of this checkout, so the install builds the addon from source like a user's
// would), `svelte-realtime/adapter` in place of adapter-auto, `realtime()` next to
// `sveltekit()`. Then `svelte-check` (0 errors), `vite build` + `node build` and `vite dev`,
// each driven in Chromium. The svelte.config.js form is covered by the demo (examples/chat).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, launchBrowser, root, shot, startBuilt, startDev, stop } from './demo.js';

const SV = 'sv@0.17.1'; // today's scaffold: no svelte.config.js, the adapter in vite.config, Vite 8
const fixtures = join(import.meta.dirname, 'fixtures');

/** The README's edits to the vite.config that `sv create` writes. */
function editViteConfig(source) {
  const edited = source
    .replace("import adapter from '@sveltejs/adapter-auto';", "import adapter from 'svelte-realtime/adapter';\nimport realtime from 'svelte-realtime/vite';")
    .replace(/\t\t}\)\n\t\]/, '\t\t}),\n\t\trealtime()\n\t]');
  if (!edited.includes('realtime()') || !edited.includes("'svelte-realtime/adapter'")) {
    throw new Error(`the README's edits no longer fit what sv create writes:\n${source}`);
  }
  return edited;
}

// Step 4, as written, plus the app's own validateSession, with the JSDoc a strict
// `--types jsdoc` app needs for its own parameters.
const HOOKS = `// src/hooks.ws.js
export { message } from 'svelte-realtime/server';

/** @param {import('svelte-realtime/server').UpgradeContext} ctx */
export function upgrade({ cookies }) {
// Return user data to attach to the connection, or false to reject.
// This runs on every new WebSocket connection.
const session = validateSession(cookies.session_id);
if (!session) return false;
return { id: session.userId, name: session.name };
}

/** @param {string | undefined} id */
function validateSession(id) {
  return id === 'secret' ? { userId: 'u1', name: 'Alice' } : null;
}
`;

// Step 5, as written.
const CHAT = `// src/live/chat.js
import { live, LiveError } from 'svelte-realtime/server';
import { db } from '$lib/server/db';

// A plain RPC function -- clients can call this like a regular async function
export const sendMessage = live(async (ctx, text) => {
if (!ctx.user) throw new LiveError('UNAUTHORIZED', 'Login required');

const msg = await db.messages.insert({ userId: ctx.user.id, text });
ctx.publish('messages', 'created', msg);
return msg;
});

// A stream -- clients get a Svelte store with initial data + live updates
export const messages = live.stream('messages', async (ctx) => {
return db.messages.latest(50);
}, { merge: 'crud', key: 'id', prepend: true });
`;

const DB = `/** @typedef {{ id: number, userId: string, text: string }} Message */
/** @type {Message[]} */
const rows = [];
export const db = {
  messages: {
    /** @param {Omit<Message, 'id'>} row */
    insert: async (row) => { const msg = { id: rows.length + 1, ...row }; rows.push(msg); return msg; },
    /** @param {number} n */
    latest: async (n) => rows.slice(-n).reverse(),
  },
};
`;

// Step 6, as written (with lang="ts" in the TypeScript app).
const page = (lang) => `<!-- src/routes/chat/+page.svelte -->
<script${lang}>
import { sendMessage, messages } from '$live/chat';
let text = $state('');

async function send() {
await sendMessage(text);
text = '';
}
</script>

{#if $messages === undefined}
<p>Loading...</p>
{:else if $messages?.error}
<p>Failed to load: {$messages.error.message}</p>
{:else}
{#each $messages as msg (msg.id)}
<p><b>{msg.userId}:</b> {msg.text}</p>
{/each}
{/if}

<input bind:value={text} />
<button onclick={send}>Send</button>
`;

/** Runs a command without blocking the test worker (installs take minutes). */
function run(command, args, cwd) {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: '1' }, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}:\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

let browser;
let tarball;
const apps = {};

/** `sv create` in `dir`, then the README's steps. */
async function scaffold(dir, types) {
  const name = `${types}-app`;
  await run('npx', ['-y', SV, 'create', name, '--template', 'minimal', '--types', types, '--no-add-ons', '--no-install'], dir);
  const app = join(dir, name);
  await run('npm', ['install', '--no-audit', '--no-fund'], app);
  // Step 1, as the README writes it: `npm install svelte-realtime@npm:svelte-realtime-native`.
  await run('npm', ['install', '--no-audit', '--no-fund', `svelte-realtime@file:${tarball}`], app);
  const ts = types === 'ts';
  const config = join(app, ts ? 'vite.config.ts' : 'vite.config.js');
  writeFileSync(config, editViteConfig(readFileSync(config, 'utf8')));
  mkdirSync(join(app, 'src', 'live'), { recursive: true });
  mkdirSync(join(app, 'src', 'lib', 'server'), { recursive: true });
  mkdirSync(join(app, 'src', 'routes', 'chat'), { recursive: true });
  if (ts) {
    writeFileSync(join(app, 'src', 'hooks.ws.ts'), readFileSync(join(fixtures, 'ts-hooks.ws.ts'), 'utf8'));
    writeFileSync(join(app, 'src', 'live', 'chat.ts'), readFileSync(join(fixtures, 'ts-chat.ts'), 'utf8'));
    writeFileSync(join(app, 'src', 'lib', 'server', 'db.ts'), readFileSync(join(fixtures, 'ts-db.ts'), 'utf8'));
  } else {
    writeFileSync(join(app, 'src', 'hooks.ws.js'), HOOKS);
    writeFileSync(join(app, 'src', 'live', 'chat.js'), CHAT);
    writeFileSync(join(app, 'src', 'lib', 'server', 'db.js'), DB);
  }
  writeFileSync(join(app, 'src', 'routes', 'chat', '+page.svelte'), page(ts ? ' lang="ts"' : ''));
  return app;
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'srt-getting-started-'));
  const packed = (await run('npm', ['pack', '--pack-destination', dir, '--silent'], root)).trim().split('\n').pop();
  tarball = join(dir, packed);
  for (const types of ['ts', 'jsdoc']) apps[types] = await scaffold(dir, types);
  browser = await launchBrowser();
}, 600_000);

afterAll(() => browser?.close());

async function chatWorks(url, label) {
  const context = await browser.newContext();
  await context.addCookies([{ name: 'session_id', value: 'secret', url }]);
  const page = await context.newPage();
  await page.goto(`${url}/chat`);
  await page.waitForFunction(() => !document.body.innerText.includes('Loading...'));
  await page.fill('input', 'Hello from the getting started guide');
  await page.click('text=Send');
  await page.waitForSelector('text=u1: Hello from the getting started guide');
  await shot(page, `getting-started-${label}`);
  await context.close();
}

describe.each(['ts', 'jsdoc'])("the spec's Getting started in a fresh `sv create --types %s` app", (types) => {
  it('svelte-check finds no errors in the spec\'s templates', async () => {
    const app = apps[types];
    // `vite build` writes $live/$types.d.ts (the dev server does too): build first so the
    // typings exist, then the app's own `npm run check` (svelte-kit sync + svelte-check).
    await run('npm', ['run', 'build'], app);
    const out = await run('npm', ['run', 'check', '--', '--output', 'machine'], app);
    expect(out).toMatch(/COMPLETED \d+ FILES 0 ERRORS/);
    expect(readFileSync(join(app, 'src', 'live', '$types.d.ts'), 'utf8')).toContain("declare module '$live/chat'");
  }, 240_000);

  it('vite build + node build', async () => {
    const app = apps[types];
    expect(readFileSync(join(app, 'build', 'index.js'), 'utf8')).toContain('svelte-realtime/adapter/start');
    const server = await startBuilt(0, app);
    try {
      await chatWorks(server.url, `${types}-build`);
    } finally {
      await stop(server);
    }
  }, 180_000);

  it('vite dev', async () => {
    const port = await freePort();
    const vite = await startDev(apps[types], port);
    try {
      await chatWorks(vite.url, `${types}-dev`);
    } finally {
      await stop(vite);
    }
  }, 120_000);
});
