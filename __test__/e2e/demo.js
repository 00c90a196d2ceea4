// Helpers for the end-to-end suites: the chat demo (examples/chat) built with the adapter
// or served by `vite dev`, and Debian's Chromium driven by playwright-core.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const demo = join(root, 'examples', 'chat');
export const output = join(root, 'test-output', 'e2e');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** Installs the demo's packages when missing, then builds it. */
export function buildDemo(dir = demo) {
  if (!existsSync(join(dir, 'node_modules', '.package-lock.json'))) {
    run('npm', ['ci', '--no-audit', '--no-fund'], dir);
  }
  run(process.execPath, [join(dir, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], dir);
}

/** A copy of the demo sources sharing its node_modules (for tests that edit files). */
export function copyDemo() {
  const dir = mkdtempSync(join(tmpdir(), 'srt-demo-'));
  for (const entry of ['src', 'svelte.config.js', 'vite.config.js', 'package.json']) {
    cpSync(join(demo, entry), join(dir, entry), { recursive: true });
  }
  symlinkSync(join(demo, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/**
 * Starts a process and resolves once a stdout line matches `ready`; `.url` is taken from it.
 */
function startProcess(command, args, { cwd, env, ready }) {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready:\n${child.output}`)), 60_000);
    const onData = (chunk) => {
      child.output += chunk;
      const match = ready.exec(child.output.replace(/\x1b\[[0-9;]*m/g, ''));
      if (match) {
        clearTimeout(timer);
        child.url = match[1];
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`exited with ${code}:\n${child.output}`)));
  });
}

/** `node build` of the demo on `port` (0 picks one). */
export function startBuilt(port = 0, dir = demo, env = {}) {
  return startProcess(process.execPath, ['build'], {
    cwd: dir,
    env: { PORT: String(port), HOST: '127.0.0.1', ...env },
    ready: /Listening on (http:\/\/\S+)/,
  });
}

/** A TCP port nothing listens on now (the kernel's pick), for servers that need one up front. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** `vite dev` of a demo directory. */
export function startDev(dir, port) {
  return startProcess(process.execPath, [join(dir, 'node_modules', 'vite', 'bin', 'vite.js'), 'dev', '--port', String(port), '--strictPort'], {
    cwd: dir,
    env: {},
    ready: /svelte-realtime: WebSocket on \/ws/,
  }).then((child) => {
    child.url = `http://localhost:${port}`;
    return child;
  });
}

/** Stops a process (SIGTERM) and waits for it. */
export function stop(child) {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `The browser tests need Chromium at ${CHROMIUM}: install it (Debian/Ubuntu: \`apt-get install chromium\`) ` +
        'or point CHROMIUM_PATH at a Chromium or Chrome binary.',
    );
  }
  const { chromium } = await import('playwright-core');
  mkdirSync(output, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}

/** A signed-in page for `name`. */
export async function signIn(browser, url, name) {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.fill('input[name=name]', name);
  await Promise.all([page.waitForURL(url + '/'), page.click('text=Sign in')]);
  await page.waitForSelector('.status[data-status=open]');
  return page;
}

export const shot = (page, name) => page.screenshot({ path: join(output, `${name}.png`) });
