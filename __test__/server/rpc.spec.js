import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import * as v from 'valibot';
import { LiveError, createMessage, guard, handleRpc, live, Registry } from '../../lib/server/index.js';
import { fakePlatform, fakeSocket, registryWith, rpc } from './fakes.js';

const enc = (s) => new TextEncoder().encode(s).buffer;

describe('handleRpc detection', () => {
  const registry = new Registry();
  const opts = { registry };
  it.each([
    ['too short', enc('{"rpc"')],
    ['not JSON', enc('{"rpc":oops, "id":"1"}')],
    ['whitespace after {', enc('{ "rpc":"a/b","id":"1"}')],
    ['no rpc/id', enc('{"rpc":"a/b","args":[]}')],
    ['numeric id', enc('{"rpc":"a/b","id":1}')],
    ['a control frame', enc('{"type":"subscribe","topic":"x"}')],
    ['plain text', enc('hello world!')],
    ['not a buffer', 42],
    ['binary frame with a zero-length header', new Uint8Array([0, 0, 0, 1, 2]).buffer],
    ['binary frame with a truncated header', new Uint8Array([0, 0, 9, 0x7b]).buffer],
  ])('returns false for %s', (_name, data) => {
    expect(handleRpc(fakeSocket(), data, fakePlatform(), opts)).toBe(false);
  });

  it('accepts ArrayBuffer, typed arrays and strings', () => {
    const msg = '{"rpc":"a/b","id":"1","args":[]}';
    const p = fakePlatform();
    expect(handleRpc(fakeSocket(), enc(msg), p, opts)).toBe(true);
    expect(handleRpc(fakeSocket(), new TextEncoder().encode(msg), p, opts)).toBe(true);
    expect(handleRpc(fakeSocket(), msg, p, opts)).toBe(true);
  });
});

describe('calls', () => {
  const chat = {
    echo: live(async (ctx, ...args) => args),
    nothing: live(() => undefined),
    user: live((ctx) => ctx.user),
    fail: live(() => {
      throw new LiveError('UNAUTHORIZED', 'Login required');
    }),
    crash: live(() => {
      throw new Error('db down');
    }),
    notLive: () => 'secret',
  };

  it('answers {ok:true,data} on topic __rpc with the request id as event', async () => {
    const env = { registry: registryWith({ chat }) };
    expect(await rpc(env, { rpc: 'chat/echo', id: 'ab1', args: ['hi', 2] })).toEqual({ ok: true, data: ['hi', 2] });
    expect(env.ws.sent[0].topic).toBe('__rpc');
    expect(env.ws.sent[0].event).toBe('ab1');
  });

  it('omits data when the function returns undefined; absent args means []', async () => {
    const env = { registry: registryWith({ chat }) };
    expect(await rpc(env, { rpc: 'chat/nothing' })).toEqual({ ok: true });
    expect(await rpc(env, { rpc: 'chat/echo' })).toEqual({ ok: true, data: [] });
  });

  it('gives ctx.user the upgrade user data', async () => {
    const env = { registry: registryWith({ chat }), ws: fakeSocket({ id: 'u1' }) };
    expect(await rpc(env, { rpc: 'chat/user', args: [] })).toEqual({ ok: true, data: { id: 'u1' } });
  });

  it.each([
    [{ rpc: 'chat', args: [] }, 'INVALID_REQUEST', 'Invalid path'],
    [{ rpc: 'chat/echo-x', args: [] }, 'INVALID_REQUEST', 'Invalid path'],
    [{ rpc: 'chat//echo', args: [] }, 'INVALID_REQUEST', 'Invalid path'],
    [{ rpc: 'chat/echo', args: 'x' }, 'INVALID_REQUEST', 'args must be an array'],
    [{ rpc: 'chat/missing', args: [] }, 'NOT_FOUND', 'Not found'],
    [{ rpc: 'chat/notLive', args: [] }, 'NOT_FOUND', 'Not found'],
    [{ rpc: 'chat/fail', args: [] }, 'UNAUTHORIZED', 'Login required'],
  ])('%j → %s', async (msg, code, error) => {
    const env = { registry: registryWith({ chat }) };
    expect(await rpc(env, msg)).toEqual({ ok: false, code, error });
  });

  it('hides unexpected errors as INTERNAL_ERROR and reports them to onError', async () => {
    const onError = vi.fn();
    const env = { registry: registryWith({ chat }), ws: fakeSocket({ id: 7 }) };
    expect(await rpc(env, { rpc: 'chat/crash', args: [] }, { onError })).toEqual({
      ok: false,
      code: 'INTERNAL_ERROR',
      error: 'Internal server error',
    });
    expect(onError).toHaveBeenCalledWith('chat/crash', expect.any(Error), expect.objectContaining({ user: { id: 7 } }));
  });

  it('LiveError issues reach the client', async () => {
    const m = {
      f: live(() => {
        throw new LiveError('VALIDATION', 'Validation failed', { issues: [{ path: ['a'], message: 'bad' }] });
      }),
    };
    expect(await rpc({ registry: registryWith({ m }) }, { rpc: 'm/f', args: [] })).toEqual({
      ok: false,
      code: 'VALIDATION',
      error: 'Validation failed',
      issues: [{ path: ['a'], message: 'bad' }],
    });
  });

  it('answers ids the reference could not (quotes, backslashes)', async () => {
    const env = { registry: registryWith({ chat }) };
    expect(await rpc(env, { rpc: 'chat/echo', id: 'a"b\\c', args: [1] })).toEqual({ ok: true, data: [1] });
  });
});

describe('synchronous completion', () => {
  it('a function returning a value is answered before handleRpc returns, calls in order', () => {
    const registry = registryWith({ m: { double: live((ctx, x) => x * 2) } });
    const ws = fakeSocket();
    const platform = fakePlatform();
    for (let i = 0; i < 3; i++) {
      expect(handleRpc(ws, enc(`{"rpc":"m/double","id":"c${i}","args":[${i}]}`), platform, { registry })).toBe(true);
    }
    expect(ws.sent.map((e) => [e.event, e.data])).toEqual([
      ['c0', { ok: true, data: 0 }],
      ['c1', { ok: true, data: 2 }],
      ['c2', { ok: true, data: 4 }],
    ]);
  });

  it('a promise or a thenable is awaited; a rejection is an error payload', async () => {
    const thenable = { then: (resolve) => resolve('from a thenable') };
    const m = {
      later: live(async () => 'later'),
      thenable: live(() => thenable),
      rejects: live(() => Promise.reject(new LiveError('CONFLICT', 'taken'))),
    };
    const env = { registry: registryWith({ m }) };
    expect(await rpc(env, { rpc: 'm/later', args: [] })).toEqual({ ok: true, data: 'later' });
    expect(await rpc(env, { rpc: 'm/thenable', args: [] })).toEqual({ ok: true, data: 'from a thenable' });
    expect(await rpc(env, { rpc: 'm/rejects', args: [] })).toEqual({ ok: false, code: 'CONFLICT', error: 'taken' });
  });

  it('guards, middleware and replaced functions registered after the first call apply to the next', async () => {
    const registry = registryWith({ m: { f: live(() => 'v1') } });
    const env = { registry };
    expect(await rpc(env, { rpc: 'm/f', args: [] })).toEqual({ ok: true, data: 'v1' });
    // Server-side HMR registers the module again, with a new function and a guard.
    registry.registerModule('m', {
      f: live(() => 'v2'),
      _guard: guard(() => {
        throw new LiveError('FORBIDDEN', 'no');
      }),
    });
    expect(await rpc(env, { rpc: 'm/f', args: [] })).toEqual({ ok: false, code: 'FORBIDDEN', error: 'no' });
    registry.clear(); // what dev's hot update does before registering again
    registry.registerModule('m', { f: live(() => 'v3') });
    expect(await rpc(env, { rpc: 'm/f', args: [] })).toEqual({ ok: true, data: 'v3' });
    let seen = 0;
    registry.middleware.push((ctx, next) => {
      seen += 1;
      return next();
    });
    expect(await rpc(env, { rpc: 'm/f', args: [] })).toEqual({ ok: true, data: 'v3' });
    expect(seen).toBe(1);
    registry.clear();
    expect(await rpc(env, { rpc: 'm/f', args: [] })).toEqual({ ok: false, code: 'NOT_FOUND', error: 'Not found' });
  });

  it('a registered function under a path the protocol refuses is still refused', async () => {
    const registry = registryWith({ m: { $odd: live(() => 'no') } });
    expect(await rpc({ registry }, { rpc: 'm/$odd', args: [] })).toEqual({
      ok: false,
      code: 'INVALID_REQUEST',
      error: 'Invalid path',
    });
  });
});

describe('guards, middleware, beforeExecute', () => {
  it('runs middleware in order, then the module guard, then beforeExecute, then the function', async () => {
    const order = [];
    const registry = registryWith({
      admin: {
        _guard: guard(
          (ctx) => {
            order.push('guard1');
            ctx.extra = 'enriched';
          },
          async (ctx) => order.push(`guard2:${ctx.extra}`),
        ),
        op: live((ctx) => {
          order.push('fn');
          return ctx.extra;
        }),
      },
    });
    registry.middleware.push(async (ctx, next) => {
      order.push('mw1');
      const result = await next();
      order.push(`mw1 saw ${result}`);
      return result;
    });
    registry.middleware.push((ctx, next) => {
      order.push('mw2');
      return next();
    });
    const beforeExecute = (ws, path, args) => order.push(`before:${path}:${args}`);
    const payload = await rpc({ registry }, { rpc: 'admin/op', args: [1] }, { beforeExecute });
    expect(payload).toEqual({ ok: true, data: 'enriched' });
    expect(order).toEqual(['mw1', 'mw2', 'guard1', 'guard2:enriched', 'before:admin/op:1', 'fn', 'mw1 saw enriched']);
  });

  it('a guard or beforeExecute throwing stops the call', async () => {
    const registry = registryWith({
      admin: {
        _guard: guard((ctx) => {
          if (ctx.user?.role !== 'admin') throw new LiveError('FORBIDDEN', 'Admin only');
        }),
        op: live(() => 'done'),
      },
    });
    expect(await rpc({ registry }, { rpc: 'admin/op', args: [] })).toEqual({ ok: false, code: 'FORBIDDEN', error: 'Admin only' });
    const ws = fakeSocket({ role: 'admin' });
    const beforeExecute = () => {
      throw new LiveError('RATE_LIMITED', 'Too many requests');
    };
    expect(await rpc({ registry, ws }, { rpc: 'admin/op', args: [] }, { beforeExecute })).toEqual({
      ok: false,
      code: 'RATE_LIMITED',
      error: 'Too many requests',
    });
  });

  it('a middleware that never calls next() still answers (reference bug §9.15)', async () => {
    const registry = registryWith({ m: { f: live(() => 'never') } });
    registry.middleware.push(() => 'cached');
    expect(await rpc({ registry }, { rpc: 'm/f', args: [] })).toEqual({ ok: true, data: 'cached' });
  });

  it('guards of a module do not leak to other modules', async () => {
    const registry = registryWith({
      locked: { _guard: guard(() => { throw new LiveError('FORBIDDEN', 'no'); }), f: live(() => 1) },
      open: { f: live(() => 2) },
    });
    expect((await rpc({ registry }, { rpc: 'open/f', args: [] })).data).toBe(2);
  });
});

describe('live.validated', () => {
  const schemaCases = [
    ['zod', z.object({ text: z.string().min(1) })],
    ['valibot', v.object({ text: v.pipe(v.string(), v.minLength(1)) })],
    [
      'a hand-made Standard Schema',
      {
        '~standard': {
          version: 1,
          vendor: 'test',
          validate: (value) =>
            typeof value?.text === 'string' && value.text.length > 0
              ? { value: { text: value.text } }
              : { issues: [{ message: 'text is required', path: [{ key: 'text' }] }] },
        },
      },
    ],
    [
      'an old Zod-style safeParse',
      {
        safeParse: (value) =>
          value?.text
            ? { success: true, data: { text: value.text } }
            : { success: false, error: { issues: [{ path: ['text'], message: 'Required' }] } },
      },
    ],
  ];

  it.each(schemaCases)('%s: parsed input reaches the function; failures are VALIDATION with issues', async (_name, schema) => {
    const m = { add: live.validated(schema, (ctx, input, extra) => ({ input, extra })) };
    const registry = registryWith({ m });
    expect(await rpc({ registry }, { rpc: 'm/add', args: [{ text: 'hi', junk: 1 }, 'x'] })).toEqual({
      ok: true,
      data: { input: { text: 'hi' }, extra: 'x' },
    });
    const bad = await rpc({ registry }, { rpc: 'm/add', args: [{ text: '' }] });
    expect(bad.ok).toBe(false);
    expect(bad.code).toBe('VALIDATION');
    expect(bad.error).toBe('Validation failed');
    expect(bad.issues.length).toBeGreaterThan(0);
    expect(bad.issues[0].path).toEqual(['text']);
    expect(typeof bad.issues[0].message).toBe('string');
  });

  it('refuses an unknown schema at definition time', () => {
    expect(() => live.validated({}, () => {})).toThrow(/Standard Schema, a Zod or a Valibot/);
  });
});

describe('createMessage', () => {
  it('transforms the platform once per platform object and passes non-RPC messages on', async () => {
    const transform = vi.fn((p) => ({ ...p, wrapped: true }));
    const unhandled = vi.fn();
    const registry = registryWith({ m: { who: live((ctx) => ctx.platform.wrapped) } });
    const message = createMessage({ platform: transform, onUnhandled: unhandled, registry });
    const ws = fakeSocket();
    const platform = fakePlatform();
    const reply = platform.next('x1');
    message(ws, { data: enc('{"rpc":"m/who","id":"x1","args":[]}'), platform });
    message(ws, { data: enc('{"rpc":"m/who","id":"x2","args":[]}'), platform });
    message(ws, { data: enc('not rpc'), platform });
    expect(await reply).toEqual({ ok: true, data: true });
    expect(transform).toHaveBeenCalledTimes(1);
    expect(unhandled).toHaveBeenCalledTimes(1);
    expect(unhandled.mock.calls[0][2].wrapped).toBe(true);
  });
});
