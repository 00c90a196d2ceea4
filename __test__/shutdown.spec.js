import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { connect, start } from './helpers.js';

const runtimeUrl = pathToFileURL(join(import.meta.dirname, '..', 'lib', 'runtime', 'index.js')).href;

/** Runs a script in a child Node process; resolves with its exit code and output. */
function runScript(source, { onReady } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'srt-'));
  const file = join(dir, 'script.mjs');
  writeFileSync(file, source);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    const match = /PORT (\d+)/.exec(out);
    if (match && onReady) {
      const fn = onReady;
      onReady = null;
      fn(Number(match[1]), child);
    }
  });
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out })));
}

describe('shutdown', () => {
  it('close() closes sockets with 1001, runs close hooks, and is idempotent', async () => {
    const codes = [];
    const server = await start({ hooks: { close: (ws, { code }) => codes.push(code) } });
    const a = await connect(server.wsUrl);
    const b = await connect(server.wsUrl);
    const first = server.close();
    const second = server.close();
    expect(second).toBe(first);
    await first;
    expect((await a.closed).code).toBe(1001);
    expect((await b.closed).code).toBe(1001);
    expect(codes).toEqual([1001, 1001]);
    await expect(connect(server.wsUrl)).rejects.toThrow();
    expect(() => server.platform.publish('t', 'e', 1)).toThrow(/disposed/);
  });

  it('lets an HTTP request in flight finish', async () => {
    let finish;
    const server = await start({
      fetch: () => new Promise((resolve) => (finish = () => resolve(new Response('done')))),
    });
    const pending = fetch(`http://127.0.0.1:${server.port}/slow`);
    await new Promise((r) => setTimeout(r, 100));
    const closing = server.close();
    setTimeout(() => finish(), 200);
    const res = await pending;
    expect(await res.text()).toBe('done');
    await closing;
  });

  it('the Node process exits by itself after close()', async () => {
    const result = await runScript(`
      import { serve } from ${JSON.stringify(runtimeUrl)};
      const server = await serve({ host: '127.0.0.1', port: 0, signals: false });
      console.log('PORT', server.port);
      await server.close();
      console.log('closed');
    `);
    expect(result.out).toContain('closed');
    expect(result.code).toBe(0);
  });

  it('SIGTERM closes open sockets with 1001 and exits 0', async () => {
    let client;
    const result = await runScript(
      `
      import { serve } from ${JSON.stringify(runtimeUrl)};
      const server = await serve({
        host: '127.0.0.1', port: 0,
        hooks: { close: (ws, { code }) => console.log('hook close', code) },
      });
      setInterval(() => {}, 1000); // user code holding the process
      console.log('PORT', server.port);
    `,
      {
        onReady: async (port, child) => {
          client = await connect(`ws://127.0.0.1:${port}/ws`);
          child.kill('SIGTERM');
        },
      },
    );
    expect(result.code).toBe(0);
    expect(result.out).toContain('hook close 1001');
    expect((await client.closed).code).toBe(1001);
  });
});
