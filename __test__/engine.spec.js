// Where the sockets run (`engine`): inline on the JavaScript thread or on engine threads.
// Both serve the same protocol (every runtime suite runs on each: `npm test`); here the
// choice itself, and that an inline engine lets Node exit once the server is closed.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, start } from './helpers.js';

let server;
afterEach(() => server?.close());

describe('engine option', () => {
  it('auto is inline with at most 2 cores and no explicit workers, threads otherwise', async () => {
    server = await start({ engine: 'auto' });
    expect(server.engine).toBe(availableParallelism() <= 2 ? 'inline' : 'threads');
    await server.close();
    server = await start({ engine: 'auto', workers: 2 });
    expect(server.engine).toBe('threads');
  });

  it.each(['inline', 'threads'])('%s serves calls, publishes and closes', async (engine) => {
    server = await start({
      engine,
      hooks: {
        open: (ws) => ws.subscribe('t'),
        message: (ws, { data }) => {
          server.platform.publish('t', 'echo', new TextDecoder().decode(data));
          ws.send('direct');
        },
      },
    });
    expect(server.engine).toBe(engine);
    const client = await connect(server.wsUrl);
    client.send('hi');
    expect(JSON.parse(await client.next())).toEqual({ topic: 't', event: 'echo', data: 'hi' });
    expect(await client.next()).toBe('direct');
    client.close(1000);
    expect((await client.closed).code).toBe(1000);
  });

  it('refuses an unknown engine', async () => {
    await expect(start({ engine: 'fibers' })).rejects.toThrow(/engine must be one of auto, inline, threads/);
  });

  it('with an inline engine, Node exits once the server is closed', () => {
    const script = `
      const { serve } = await import(${JSON.stringify(new URL('../lib/runtime/index.js', import.meta.url).href)});
      const { default: WebSocket } = await import('ws');
      const server = await serve({ host: '127.0.0.1', port: 0, signals: false, engine: 'inline', hooks: { message: (ws, m) => ws.send(m.data) } });
      const ws = new WebSocket('ws://127.0.0.1:' + server.port + '/ws');
      ws.on('open', () => ws.send('x'));
      ws.on('message', async () => { ws.close(); await server.close(); console.log('closed'); });
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url), timeout: 20_000, encoding: 'utf8' });
    expect(run.stdout).toContain('closed');
    expect(run.signal).toBe(null); // not killed by the timeout: the loop emptied
    expect(run.status).toBe(0);
  });
});
