// The spec's "Getting started", followed literally in a freshly scaffolded SvelteKit app
// (`sv create`), with our package names: `svelte-adapter-uws` → `svelte-realtime/adapter`,
// `svelte-adapter-uws/vite` → `svelte-realtime/adapter/vite`; the uWebSockets.js and `ws`
// installs are not needed. The app-specific helpers the snippets call (`validateSession`,
// `$lib/server/db`) are written out, as any app would have them.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, root, shot, startBuilt, startDev, stop } from './demo.js';

const SV = 'sv@0.12.8'; // the scaffold of the spec's time: svelte.config.js, Vite 7

// Step 2, with our package name.
const SVELTE_CONFIG = `// svelte.config.js
import adapter from 'svelte-realtime/adapter';

export default {
kit: {
adapter: adapter({ websocket: true })
}
};
`;

// Step 3, with our package names.
const VITE_CONFIG = `// vite.config.js
import { sveltekit } from '@sveltejs/kit/vite';
import uws from 'svelte-realtime/adapter/vite';
import realtime from 'svelte-realtime/vite';

export default {
plugins: [sveltekit(), uws(), realtime()]
};
`;

// Step 4, as written, plus the app's own validateSession.
const HOOKS = `// src/hooks.ws.js
export { message } from 'svelte-realtime/server';

export function upgrade({ cookies }) {
// Return user data to attach to the connection, or false to reject.
// This runs on every new WebSocket connection.
const session = validateSession(cookies.session_id);
if (!session) return false;
return { id: session.userId, name: session.name };
}

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

const DB = `const rows = [];
export const db = {
  messages: {
    insert: async (row) => { const msg = { id: rows.length + 1, ...row }; rows.push(msg); return msg; },
    latest: async (n) => rows.slice(-n).reverse(),
  },
};
`;

// Step 6, as written.
const PAGE = `<!-- src/routes/chat/+page.svelte -->
<script>
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

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: '1' } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

let app;
let browser;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'srt-getting-started-'));
  run('npx', ['-y', SV, 'create', 'my-app', '--template', 'minimal', '--types', 'jsdoc', '--no-add-ons', '--no-install'], dir);
  app = join(dir, 'my-app');
  run('npm', ['install', '--no-audit', '--no-fund'], app);
  // Step 1: npm install svelte-realtime (this checkout).
  run('npm', ['install', '--no-audit', '--no-fund', root], app);
  writeFileSync(join(app, 'svelte.config.js'), SVELTE_CONFIG);
  writeFileSync(join(app, 'vite.config.js'), VITE_CONFIG);
  writeFileSync(join(app, 'src', 'hooks.ws.js'), HOOKS);
  mkdirSync(join(app, 'src', 'live'), { recursive: true });
  writeFileSync(join(app, 'src', 'live', 'chat.js'), CHAT);
  mkdirSync(join(app, 'src', 'lib', 'server'), { recursive: true });
  writeFileSync(join(app, 'src', 'lib', 'server', 'db.js'), DB);
  mkdirSync(join(app, 'src', 'routes', 'chat'), { recursive: true });
  writeFileSync(join(app, 'src', 'routes', 'chat', '+page.svelte'), PAGE);
  browser = await launchBrowser();
}, 300_000);

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

describe('the spec\'s Getting started in a fresh SvelteKit app', () => {
  it('npm run build + node build', async () => {
    run('npm', ['run', 'build'], app);
    expect(readFileSync(join(app, 'build', 'index.js'), 'utf8')).toContain('svelte-realtime/adapter/start');
    const server = await startBuilt(0, app);
    try {
      await chatWorks(server.url, 'build');
    } finally {
      await stop(server);
    }
  }, 180_000);

  it('npm run dev', async () => {
    const port = 5800 + Math.floor(Math.random() * 100);
    const vite = await startDev(app, port);
    try {
      await chatWorks(vite.url, 'dev');
    } finally {
      await stop(vite);
    }
  }, 120_000);
});
