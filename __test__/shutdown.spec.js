import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { connect, start, waitFor } from './helpers.js';
import { createMessage, live, Registry } from '../lib/server/index.js';

const runtimeUrl = pathToFileURL(join(import.meta.dirname, '..', 'lib', 'runtime', 'index.js')).href;
const serverUrl = pathToFileURL(join(import.meta.dirname, '..', 'lib', 'server', 'index.js')).href;

/** Sends `count` calls to `slow/wait` on each client; resolves with the replies and the close. */
function collectReplies(client) {
  const replies = [];
  client.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.topic === '__rpc') replies.push(msg);
  });
  return replies;
}

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

  it('replies of RPCs in flight go out before the 1001; later messages are not handled', async () => {
    const registry = new Registry();
    let started = 0;
    registry.registerModule('slow', {
      wait: live(async (ctx, n) => {
        started += 1;
        await new Promise((r) => setTimeout(r, 300));
        return n;
      }),
    });
    const server = await start({ hooks: { message: createMessage({ registry }) } });
    const clients = await Promise.all(Array.from({ length: 4 }, () => connect(server.wsUrl)));
    const replies = clients.map(collectReplies);
    clients.forEach((c, k) => {
      for (let i = 0; i < 50; i++) c.send(JSON.stringify({ rpc: 'slow/wait', id: `c${k}-${i}`, args: [i] }));
    });
    await waitFor(() => started === 200);
    const closing = server.close();
    for (const c of clients) c.send(JSON.stringify({ rpc: 'slow/wait', id: 'late', args: [0] }));
    const codes = await Promise.all(clients.map((c) => c.closed));
    await closing;
    expect(codes.map((c) => c.code)).toEqual([1001, 1001, 1001, 1001]);
    for (const [k, got] of replies.entries()) {
      // A message already read when the shutdown began may get an error reply, never a result.
      const late = got.filter((r) => r.event === 'late');
      expect(late.every((r) => r.data.ok === false)).toBe(true);
      const answered = got.filter((r) => r.event !== 'late');
      expect(answered.map((r) => r.event).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `c${k}-${i}`).sort());
      expect(answered.every((r) => r.data.ok === true)).toBe(true);
    }
    expect(started, 'the message sent after close() reached no handler').toBe(200);
  });

  it('shutdownTimeout bounds the wait for handlers that never finish', async () => {
    const registry = new Registry();
    registry.registerModule('stuck', { forever: live(() => new Promise(() => {})) });
    const server = await start({ shutdownTimeout: 0.5, hooks: { message: createMessage({ registry }) } });
    const client = await connect(server.wsUrl);
    client.send(JSON.stringify({ rpc: 'stuck/forever', id: 'x', args: [] }));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(4000);
    expect([1001, 1006]).toContain((await client.closed).code);
    expect(server.log.lines.some((l) => /1 handler\(s\) still running/.test(l.text))).toBe(true);
  });

  it('SIGTERM with RPCs in flight: every reply arrives, then 1001', async () => {
    let client;
    let replies;
    const result = await runScript(
      `
      import { serve } from ${JSON.stringify(runtimeUrl)};
      import { createMessage, live, Registry } from ${JSON.stringify(serverUrl)};
      const registry = new Registry();
      let started = 0;
      registry.registerModule('slow', {
        wait: live(async (ctx, n) => { if (++started === 100) console.log('ALL STARTED'); await new Promise((r) => setTimeout(r, 300)); return n; }),
      });
      const server = await serve({ host: '127.0.0.1', port: 0, hooks: { message: createMessage({ registry }) } });
      console.log('PORT', server.port);
    `,
      {
        onReady: async (port, child) => {
          client = await connect(`ws://127.0.0.1:${port}/ws`);
          replies = collectReplies(client);
          for (let i = 0; i < 100; i++) client.send(JSON.stringify({ rpc: 'slow/wait', id: `r${i}`, args: [i] }));
          await new Promise((r) => setTimeout(r, 100));
          child.kill('SIGTERM');
        },
      },
    );
    expect(result.code).toBe(0);
    expect(result.out).toContain('ALL STARTED');
    expect((await client.closed).code).toBe(1001);
    expect(replies).toHaveLength(100);
  });
});
