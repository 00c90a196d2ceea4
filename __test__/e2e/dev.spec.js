// The chat demo under `vite dev`: the WebSocket on Vite's own port through the native
// runtime, live modules re-registered on save (a syntax error keeps the old handlers), and
// the DevTools overlay.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, copyDemo, freePort, launchBrowser, shot, signIn, startDev, stop } from './demo.js';

let dir;
let vite;
let browser;
let port;

beforeAll(async () => {
  buildDemo(); // installs the demo's packages when needed
  dir = copyDemo();
  port = await freePort(); // a fixed range once landed on PostgreSQL's 5432
  vite = await startDev(dir, port);
  browser = await launchBrowser();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await stop(vite);
});

// A string, so vitest does not rewrite its `import()` before it reaches the browser.
const callSendBlank = `import('/@id/$live/chat').then(({ send }) => send('   ').catch((e) => e.message))`;

describe('chat demo under vite dev', () => {
  let alice;
  const chat = () => join(dir, 'src', 'live', 'chat.js');

  it('serves the page and the WebSocket on the dev server port', async () => {
    alice = await signIn(browser, `http://localhost:${port}`, 'Alice');
    await alice.fill('input[placeholder="Say hi"]', 'hello in dev');
    await alice.press('input[placeholder="Say hi"]', 'Enter');
    await alice.waitForSelector('text=hello in dev');
    await shot(alice, 'dev-1-message');
  }, 60_000);

  it('saving a live module re-registers its handlers without a restart', async () => {
    const source = readFileSync(chat(), 'utf8');
    writeFileSync(chat(), source.replace("'Say something'", "'Say something, please'"));
    await new Promise((r) => setTimeout(r, 1500));
    const error = await alice.evaluate(callSendBlank);
    expect(error).toBe('Say something, please');
  }, 30_000);

  it('a syntax error keeps the previous handlers working', async () => {
    const source = readFileSync(chat(), 'utf8');
    writeFileSync(chat(), `${source}\nexport const broken = live(;\n`);
    await new Promise((r) => setTimeout(r, 1500));
    expect(vite.output).toMatch(/a live module failed to load; the previous handlers stay active/);
    const error = await alice.evaluate(callSendBlank);
    expect(error).toBe('Say something, please');
    writeFileSync(chat(), source);
  }, 30_000);

  it('the DevTools overlay toggles with Ctrl+Shift+L and lists streams and calls', async () => {
    await alice.reload();
    await alice.waitForSelector('.status[data-status=open]');
    await alice.waitForSelector('text=hello in dev'); // module state survived the reloads
    await alice.keyboard.press('Control+Shift+L');
    const panel = alice.locator('svelte-realtime-devtools');
    await expect.poll(() => panel.isVisible()).toBe(true);
    const text = await alice.locator('svelte-realtime-devtools #body').innerText();
    expect(text).toContain('connection: open');
    expect(text).toContain('chat/messages');
    await shot(alice, 'dev-2-devtools');
  }, 30_000);
});
