import { afterEach, describe, expect, it } from 'vitest';
import { live } from '../../lib/server/index.js';
import { __rpc, configure, status } from '../../lib/client/index.js';
import { sleep, startRealtime, teardown, watch } from './harness.js';
import { waitFor } from '../helpers.js';

let env;
afterEach(async () => {
  await teardown(env);
  env = null;
});

const dropAll = (env) => {
  for (const ws of env.sockets) ws.close();
};

describe('connection', () => {
  it('status goes connecting → open → closed → connecting → open', async () => {
    env = await startRealtime({ m: { ping: live(() => 'pong') } });
    const statuses = watch(status);
    await __rpc('m/ping')();
    dropAll(env);
    await waitFor(() => statuses.values.filter((s) => s === 'open').length === 2);
    expect(statuses.values).toEqual(['closed', 'connecting', 'open', 'closed', 'connecting', 'open']);
  });

  it('onConnect after a reconnect (not the first connect), onDisconnect, beforeReconnect', async () => {
    const events = [];
    env = await startRealtime({ m: { ping: live(() => 'pong') } });
    configure({
      onConnect: () => events.push('connect'),
      onDisconnect: () => events.push('disconnect'),
      beforeReconnect: async () => {
        events.push('before');
        await sleep(5);
      },
    });
    await __rpc('m/ping')();
    expect(events).toEqual([]);
    dropAll(env);
    await waitFor(() => events.includes('connect'));
    expect(events).toEqual(['disconnect', 'before', 'connect']);
  });

  it('offline queue: calls made while closed wait and replay on reconnect', async () => {
    let runs = 0;
    env = await startRealtime({ m: { save: live((ctx, n) => (runs++, n * 2)) } });
    configure({ offline: { queue: true } });
    await __rpc('m/save')(0);
    await env.server.close();
    const port = env.server.port;
    await sleep(20);
    const pending = [1, 2, 3].map((n) => __rpc('m/save').fresh(n));
    // A new server on the same port: the client reconnects to it.
    env = { ...(await startRealtimeOnPort(port)), client: env.client };
    expect(await Promise.all(pending)).toEqual([2, 4, 6]);
  });

  it('offline queue: overflow rejects the oldest with QUEUE_FULL; maxAge and beforeReplay give STALE', async () => {
    env = await startRealtime({ m: { save: live((ctx, n) => n) } }, { configure: { reconnectInterval: 30_000, maxReconnectInterval: 30_000 } });
    await __rpc('m/save')(0);
    const dropped = [];
    configure({
      offline: {
        queue: true,
        maxQueue: 2,
        maxAge: 60_000,
        beforeReplay: (call) => call.args[0] !== 3,
        onReplayError: () => {},
      },
    });
    dropAll(env);
    await waitFor(() => getStatus() !== 'open');
    const first = __rpc('m/save').fresh(1).catch((e) => dropped.push(e.code));
    const second = __rpc('m/save').fresh(2);
    const third = __rpc('m/save').fresh(3).catch((e) => e.code);
    await first;
    expect(dropped).toEqual(['QUEUE_FULL']);
    const { reconnectNow } = await import('../../lib/client/index.js');
    reconnectNow();
    expect(await second).toBe(2);
    expect(await third).toBe('STALE');
  });
});

describe('offline replay options', () => {
  it('maxAge expires old calls; replay() reorders what is sent', async () => {
    const order = [];
    env = await startRealtime(
      { m: { save: live((ctx, n) => (order.push(n), n)) } },
      { configure: { reconnectInterval: 30_000, maxReconnectInterval: 30_000 } },
    );
    await __rpc('m/save')(0);
    order.length = 0;
    configure({ offline: { queue: true, maxAge: 80, replay: (calls) => [...calls].reverse() } });
    dropAll(env);
    await waitFor(() => getStatus() !== 'open');
    const old = __rpc('m/save').fresh(1).catch((e) => e.code);
    await sleep(120);
    const a = __rpc('m/save').fresh(2);
    const b = __rpc('m/save').fresh(3);
    const { reconnectNow } = await import('../../lib/client/index.js');
    reconnectNow();
    expect(await old).toBe('STALE');
    expect(await Promise.all([a, b])).toEqual([2, 3]);
    expect(order).toEqual([3, 2]);
  });
});

import { getStatus } from '../../lib/client/connection.js';

/** Starts a second server on a given port with the same module. */
async function startRealtimeOnPort(port) {
  const { serve } = await import('../../lib/runtime/index.js');
  const { createMessage, Registry } = await import('../../lib/server/index.js');
  const registry = new Registry();
  registry.registerModule('m', { save: live((ctx, n) => n * 2) });
  const server = await serve({ host: '127.0.0.1', port, signals: false, log: { info() {}, warn() {}, error() {} }, hooks: { message: createMessage({ registry }) } });
  return { server, sockets: new Set() };
}
