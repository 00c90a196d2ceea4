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

/** Asserts that `selector`'s box lies wholly inside the viewport. */
async function expectInView(page, selector) {
  const box = await page.locator(selector).boundingBox();
  const { width, height } = page.viewportSize();
  expect(box, selector).not.toBeNull();
  expect(box.x, selector).toBeGreaterThanOrEqual(0);
  expect(box.y, selector).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width, selector).toBeLessThanOrEqual(width);
  expect(box.y + box.height, selector).toBeLessThanOrEqual(height);
}

describe('the demo layout (a server of its own, so the chat starts empty)', () => {
  let fresh;
  let url;

  beforeAll(async () => {
    fresh = await startBuilt(0);
    url = `http://localhost:${new URL(fresh.url).port}`;
  }, 60_000);
  afterAll(() => stop(fresh));

  for (const [width, height] of [[390, 844], [1280, 800]]) {
    it(`fits ${width}x${height}: status pill and input in view, an empty state for an empty chat`, async () => {
      const context = await browser.newContext({ viewport: { width, height } });
      const page = await context.newPage();
      await page.goto(url);
      // Before signing in the pill is neutral, not a grey "closed".
      await page.waitForSelector('.status[data-state=idle]:has-text("not connected")');
      await expectInView(page, '.status');
      await expectInView(page, 'input[name=name]');
      await shot(page, `demo-${width}-signin`);

      await page.fill('input[name=name]', `Dana${width}`);
      await Promise.all([page.waitForURL(url + '/'), page.click('text=Sign in')]);
      await page.waitForSelector('.status[data-status=open][data-state=live]:has-text("live")');
      await page.waitForSelector('[data-testid=empty]:has-text("No messages yet — say hi")');
      for (const selector of ['.status', 'input[placeholder="Say hi"]', 'button:has-text("Send")', '[data-testid=empty]']) {
        await expectInView(page, selector);
      }
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      await shot(page, `demo-${width}`);

      // The empty state goes with the first message and comes back when it is deleted.
      await page.fill('input[placeholder="Say hi"]', 'first!');
      await page.press('input[placeholder="Say hi"]', 'Enter');
      await page.waitForSelector('[data-testid=messages] li:has-text("first!")');
      expect(await page.locator('[data-testid=empty]').count()).toBe(0);
      await page.click('[data-testid=messages] li:has-text("first!") button[aria-label=delete]');
      await page.waitForSelector('[data-testid=empty]');
      await context.close();
    }, 60_000);
  }

  it('the pill says reconnecting, then offline, while the server is down', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await context.addCookies([{ name: 'name', value: 'Dana', url }]);
    await page.goto(url + '/');
    await page.waitForSelector('.status[data-state=live]');
    await stop(fresh);
    await page.waitForSelector('.status[data-state=reconnecting]:has-text("reconnecting")');
    await page.waitForSelector('.status[data-state=offline]:has-text("offline")', { timeout: 20_000 });
    await expectInView(page, '.status');
    await shot(page, 'demo-390-offline');
    await context.close();
  }, 40_000);
});

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
    // A still cursor fades after about 3 s; moving brings it back.
    await alice.waitForSelector('[data-testid=cursor][data-idle]:has-text("Bob")', { timeout: 6000 });
    await bob.mouse.move(340, 240);
    await alice.waitForSelector('[data-testid=cursor]:not([data-idle]):has-text("Bob")');
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
    await carol.mouse.move(200, 150);
    await carol.mouse.move(210, 160);
    await alice.waitForSelector('[data-testid=cursor]:has-text("Carol")');
    await carolContext.close();
    await alice.waitForFunction(() => document.querySelectorAll('[data-testid=presence] li').length === 2);
    // Her cursor tag leaves with her.
    await alice.waitForSelector('[data-testid=cursor]:has-text("Carol")', { state: 'detached' });
  }, 30_000);

  it('a server restart keeps stale data on screen, then refreshes it without a reload', async () => {
    await alice.evaluate(() => (window.__marker = 'same page'));
    const before = await messages(alice);
    expect(before.length).toBeGreaterThan(0);
    await stop(server);
    await alice.waitForSelector('.status:not([data-status=open])');
    await alice.waitForSelector('.status[data-state=reconnecting]');
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
