// The chat demo, built with the svelte-realtime adapter, in Chromium.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, launchBrowser, shot, signIn, startBuilt, stop } from './demo.js';

let server;
let browser;
let port;

beforeAll(async () => {
  buildDemo();
  server = await startBuilt(0);
  port = new URL(server.url).port;
  browser = await launchBrowser();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await stop(server);
});

const messages = (page) => page.locator('[data-testid=messages] li b + *').allInnerTexts();
const presence = (page) => page.locator('[data-testid=presence] li').allInnerTexts();

describe('the production build', () => {
  it('leaves the DevTools overlay out', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { demo } = await import('./demo.js');
    const dir = join(demo, 'build', 'client', '_app', 'immutable');
    const files = readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.js'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(readFileSync(join(dir, file), 'utf8')).not.toContain('svelte-realtime-devtools');
  });

  it('keeps server-only code out of the browser bundle', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { demo } = await import('./demo.js');
    const dir = join(demo, 'build', 'client');
    const files = readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.js'));
    const bundle = files.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
    expect(bundle).toContain('chat/send'); // the stub's path
    for (const serverOnly of ['At most 500 characters', 'Sign in first', 'store.add', 'messages.splice']) {
      expect(bundle).not.toContain(serverOnly);
    }
  });
});

describe('chat demo (production build)', () => {
  let alice;
  let bob;

  it('two users see each other and each other\'s messages', async () => {
    const url = `http://localhost:${port}`;
    alice = await signIn(browser, url, 'Alice');
    bob = await signIn(browser, url, 'Bob');
    await alice.waitForFunction(() => document.querySelectorAll('[data-testid=presence] li').length === 2);
    expect(await presence(alice)).toEqual(['Alice (you)', 'Bob']);
    await shot(alice, '1-alice-sees-bob');
    await alice.fill('input[placeholder="Say hi"]', 'Hello Bob!');
    await alice.press('input[placeholder="Say hi"]', 'Enter');
    await bob.waitForSelector('text=Hello Bob!');
    await bob.fill('input[placeholder="Say hi"]', 'Hi Alice');
    await bob.press('input[placeholder="Say hi"]', 'Enter');
    await alice.waitForSelector('text=Hi Alice');
    await shot(bob, '2-bob-sees-messages');
  }, 60_000);

  it('typing shows up on the other side; cursors move', async () => {
    await bob.type('input[placeholder="Say hi"]', 'typing…', { delay: 20 });
    await alice.waitForSelector('[data-testid=typing]:has-text("Bob is typing")');
    await bob.mouse.move(300, 200);
    await bob.mouse.move(320, 220);
    await alice.waitForSelector('[data-testid=cursor]:has-text("Bob")');
    await shot(alice, '3-typing-and-cursor');
  }, 30_000);

  it('a late joiner sees who is already there and the history without a loading flash', async () => {
    const carolContext = await browser.newContext();
    await carolContext.addCookies([{ name: 'name', value: 'Carol', url: `http://localhost:${port}` }]);
    const carol = await carolContext.newPage();
    const response = await carol.goto(`http://localhost:${port}/`);
    const html = await response.text();
    expect(html).toContain('Hello Bob!'); // server-rendered, hydrated
    expect(html).not.toContain('Loading…');
    await carol.waitForFunction(() => document.querySelectorAll('[data-testid=presence] li').length === 3);
    expect(await presence(carol)).toEqual(['Alice', 'Bob', 'Carol (you)']);
    await shot(carol, '4-late-joiner');
    await carolContext.close();
    await alice.waitForFunction(() => document.querySelectorAll('[data-testid=presence] li').length === 2);
  }, 30_000);

  it('a server restart keeps stale data on screen, then refreshes it without a reload', async () => {
    await alice.evaluate(() => (window.__marker = 'same page'));
    const before = await messages(alice);
    expect(before.length).toBeGreaterThan(0);
    await stop(server);
    await alice.waitForSelector('.status:not([data-status=open])');
    expect(await messages(alice)).toEqual(before); // stale data stays
    await shot(alice, '5-server-down-stale-data');
    server = await startBuilt(port);
    await alice.waitForSelector('.status[data-status=open]', { timeout: 20_000 });
    // The new process starts empty: the list refreshes to its state...
    await alice.waitForFunction(() => document.querySelectorAll('[data-testid=messages] li').length === 0, null, { timeout: 20_000 });
    // ...and live updates flow again, on the same page.
    await bob.waitForSelector('.status[data-status=open]', { timeout: 20_000 });
    await bob.fill('input[placeholder="Say hi"]', 'back online');
    await bob.press('input[placeholder="Say hi"]', 'Enter');
    await alice.waitForSelector('text=back online');
    expect(await alice.evaluate(() => window.__marker)).toBe('same page');
    await shot(alice, '6-after-restart');
  }, 90_000);
});
