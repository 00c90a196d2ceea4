import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LiveError, live } from '../../lib/server/index.js';
import { RpcError, __binary, __rpc, batch } from '../../lib/client/index.js';
import { startRealtime, sleep } from './harness.js';
import { teardown } from './harness.js';
import { waitFor } from '../helpers.js';

let env;
afterEach(async () => {
  await teardown(env);
  env = null;
});

describe('client calls against a real server', () => {
  it('resolves with the data; rejects with RpcError code, message and issues', async () => {
    env = await startRealtime({
      chat: {
        send: live((ctx, text) => ({ text })),
        fail: live(() => {
          throw new LiveError('UNAUTHORIZED', 'Login required');
        }),
        add: live.validated(z.object({ text: z.string().min(1) }), (ctx, input) => input),
      },
    });
    const send = __rpc('chat/send');
    expect(await send('hi')).toEqual({ text: 'hi' });
    const error = await __rpc('chat/fail')().catch((e) => e);
    expect(error).toBeInstanceOf(RpcError);
    expect([error.code, error.message]).toEqual(['UNAUTHORIZED', 'Login required']);
    const invalid = await __rpc('chat/add')({ text: '' }).catch((e) => e);
    expect(invalid.code).toBe('VALIDATION');
    expect(invalid.issues[0].path).toEqual(['text']);
  });

  it('sends requests exactly as the reference client does', async () => {
    env = await startRealtime({ chat: { send: live(() => 1) } });
    await __rpc('chat/send')('hi', 2);
    expect(env.frames[0]).toMatch(/^\{"rpc":"chat\/send","id":"[0-9a-z]{1,4}[0-9a-z]+","args":\["hi",2\]\}$/);
  });

  it('coalesces identical calls in one microtask; .fresh() bypasses', async () => {
    let runs = 0;
    env = await startRealtime({ users: { get: live((ctx, id) => (runs++, { id })) } });
    const get = __rpc('users/get');
    const [a, b, c] = await Promise.all([get(1), get(1), get('1')]);
    expect(a).toBe(b);
    expect(c).toEqual({ id: '1' });
    expect(runs).toBe(2);
    await Promise.all([get.fresh(1), get.fresh(1)]);
    expect(runs).toBe(4);
  });

  it('times out with TIMEOUT and never sends a call that timed out while queued', async () => {
    env = await startRealtime({ slow: { never: live(() => new Promise(() => {})) } }, { configure: { timeout: 200 } });
    const error = await __rpc('slow/never')().catch((e) => e);
    expect(error.code).toBe('TIMEOUT');
  });

  it('a socket closing mid-call rejects in-flight calls with DISCONNECTED', async () => {
    env = await startRealtime({
      slow: { wait: live((ctx) => new Promise(() => ctx.ws.close())) },
    });
    const error = await __rpc('slow/wait')().catch((e) => e);
    expect(error.code).toBe('DISCONNECTED');
  });

  it('batch() sends one frame; results in order; failures independent; sequential flag', async () => {
    env = await startRealtime({
      b: {
        one: live(() => 1),
        two: live(() => 2),
        bad: live(() => {
          throw new LiveError('NOPE', 'no');
        }),
      },
    });
    const [one, two, bad] = [__rpc('b/one'), __rpc('b/two'), __rpc('b/bad')];
    const results = await batch(() => [one(), two(), bad().catch((e) => e.code)]);
    expect(results).toEqual([1, 2, 'NOPE']);
    expect(env.frames).toHaveLength(1);
    expect(JSON.parse(env.frames[0]).batch).toHaveLength(3);
    await batch(() => [one(), two()], { sequential: true });
    expect(JSON.parse(env.frames[1]).sequential).toBe(true);
    expect(await batch(() => [])).toEqual([]);
  });

  it('batch() over 50 calls rejects them all without sending', async () => {
    env = await startRealtime({ b: { one: live(() => 1) } });
    const one = __rpc('b/one');
    const results = await batch(() => Array.from({ length: 51 }, () => one().catch((e) => e.code)));
    expect(new Set(results)).toEqual(new Set(['INVALID_REQUEST']));
    expect(env.frames).toHaveLength(0);
  });

  it('binary calls send a real binary frame (reference bug §9.8)', async () => {
    env = await startRealtime({
      upload: { avatar: live.binary((ctx, buf, name) => ({ name, bytes: [...new Uint8Array(buf)] })) },
    });
    const result = await __binary('upload/avatar')(new Uint8Array([1, 2, 250]).buffer, 'a.png');
    expect(result).toEqual({ name: 'a.png', bytes: [1, 2, 250] });
    expect(env.frames).toEqual(['<binary>']);
  });

  it('calls made before the socket opens are queued and sent once', async () => {
    env = await startRealtime({ q: { n: live((ctx, n) => n) } });
    const calls = [1, 2, 3].map((n) => __rpc('q/n')(n));
    expect(await Promise.all(calls)).toEqual([1, 2, 3]);
    await sleep(50);
    expect(env.frames).toHaveLength(3);
  });
});

describe('the send queue', () => {
  it('holds at most 1000 messages while the socket is not open; the oldest is dropped with QUEUE_FULL', async () => {
    env = await startRealtime({ q: { n: live((ctx, n) => n) } }, { configure: { reconnectInterval: 30_000, maxReconnectInterval: 30_000 } });
    await __rpc('q/n')(0);
    for (const ws of env.sockets) ws.close();
    const { getStatus } = await import('../../lib/client/connection.js');
    await waitFor(() => getStatus() === 'closed');
    const calls = Array.from({ length: 1001 }, (_, i) => __rpc('q/n').fresh(i + 1).catch((e) => e.code));
    expect(await calls[0]).toBe('QUEUE_FULL');
    const { reconnectNow } = await import('../../lib/client/index.js');
    reconnectNow();
    expect(await calls[1000]).toBe(1001);
    expect(await calls[1]).toBe(2);
  });
});
