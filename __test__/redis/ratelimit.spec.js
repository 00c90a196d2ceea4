// The Redis rate limiter (issue 10, §8.2 and §9.13): one budget across instances, keyed by
// the client's real address behind a proxy, per-connection keys that never collide across
// instances, and reset/ban/unban/clear on Redis time.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createRateLimit, createRedis } from '../../lib/redis/index.js';
import { REDIS_URL, startInstance, uniqueChannel, user } from './cluster.js';

const running = [];
const clients = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(running.splice(0).map((i) => i.stop()));
});

async function pair(limit, extra = {}) {
  const keyPrefix = `rl-${randomBytes(4).toString('hex')}:`;
  const channel = uniqueChannel();
  const list = await Promise.all(
    ['a', 'b'].map((name) => startInstance({ redis: REDIS_URL, channel, name, keyPrefix, limit, ...extra })),
  );
  running.push(...list);
  return { keyPrefix, list };
}

async function client(instance, headers) {
  const ws = await user(instance.url, 'u', headers ? { headers } : {});
  clients.push(ws);
  return ws;
}

const outcome = (reply) => (reply.ok ? 'ok' : reply.code);

describe('createRateLimit across instances', () => {
  it("keyBy 'ip' spends one budget for the same client address on every instance", async () => {
    const { list: [a, b] } = await pair({ points: 5, interval: 60_000 }, { xff: true });
    const one = { 'x-forwarded-for': '203.0.113.7' };
    const onA = await client(a, one);
    const onB = await client(b, one);
    const other = await client(b, { 'x-forwarded-for': '198.51.100.2' });
    const results = [];
    for (let i = 0; i < 3; i++) results.push(outcome(await onA.call('feed/ping')));
    for (let i = 0; i < 3; i++) results.push(outcome(await onB.call('feed/ping')));
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'RATE_LIMITED']);
    const refused = await onA.call('feed/ping');
    expect(refused.code).toBe('RATE_LIMITED');
    expect(refused.error).toMatch(/^Retry in \d+s$/);
    // Another address behind the same proxy has its own budget.
    expect(outcome(await other.call('feed/ping'))).toBe('ok');
  });

  it("keyBy 'connection' gives every connection its own budget, on any instance", async () => {
    const { list: [a, b] } = await pair({ points: 2, interval: 60_000, keyBy: 'connection' });
    const conns = [await client(a), await client(a), await client(b), await client(b)];
    for (const ws of conns) {
      expect([outcome(await ws.call('feed/ping')), outcome(await ws.call('feed/ping'))]).toEqual(['ok', 'ok']);
    }
    for (const ws of conns) expect(outcome(await ws.call('feed/ping'))).toBe('RATE_LIMITED');
  });

  it('consume, reset, ban, unban and clear against Redis', async () => {
    const redis = createRedis({ url: REDIS_URL, keyPrefix: `rl-${randomBytes(4).toString('hex')}:` });
    const limiter = createRateLimit(redis, { points: 3, interval: 10_000, blockDuration: 5_000, keyBy: (ws) => ws.key });
    const ws = { key: 'alice' };
    const first = await limiter.consume(ws);
    expect(first).toEqual({ allowed: true, remaining: 2, resetMs: expect.any(Number) });
    expect(first.resetMs).toBeGreaterThan(9_000);
    expect(first.resetMs).toBeLessThanOrEqual(10_000);
    expect((await limiter.consume(ws, 2)).remaining).toBe(0);
    // Exhausted with blockDuration: banned for 5 s.
    const banned = await limiter.consume(ws);
    expect(banned).toEqual({ allowed: false, remaining: 0, resetMs: 5_000 });
    expect((await limiter.consume(ws)).resetMs).toBeLessThanOrEqual(5_000);
    await limiter.unban('alice');
    // Unbanned, but the window is still spent.
    expect((await limiter.consume(ws)).allowed).toBe(false);
    await limiter.reset('alice');
    expect(await limiter.consume(ws)).toMatchObject({ allowed: true, remaining: 2 });
    await limiter.ban('alice', 60_000);
    const during = await limiter.consume(ws);
    expect(during.allowed).toBe(false);
    expect(during.resetMs).toBeGreaterThan(59_000);
    // The ban is stored in Redis time: bannedUntil is close to Redis's clock, not ours.
    const [seconds] = await redis.command('TIME');
    const until = Number(await redis.command('HGET', `${redis.keyPrefix}ratelimit:alice`, 'bannedUntil'));
    expect(Math.abs(until - (Number(seconds) * 1000 + 60_000))).toBeLessThan(2_000);
    await limiter.consume({ key: 'bob' });
    expect(await limiter.clear()).toBe(2);
    expect(await limiter.consume(ws)).toMatchObject({ allowed: true, remaining: 2 });
  });

  it('refuses bad options and costs with clear errors', async () => {
    const redis = createRedis({ url: REDIS_URL });
    expect(() => createRateLimit(redis, { points: 0, interval: 1000 })).toThrow(/points must be a positive integer/);
    expect(() => createRateLimit(redis, { points: 1, interval: 1.5 })).toThrow(/interval must be a positive integer/);
    expect(() => createRateLimit(redis, { points: 1, interval: 10, keyBy: 'user' })).toThrow(/keyBy must be/);
    expect(() => createRateLimit({}, { points: 1, interval: 10 })).toThrow(/createRedis/);
    const limiter = createRateLimit(redis, { points: 1, interval: 1000, keyBy: () => 'k' });
    await expect(limiter.consume({}, 0)).rejects.toThrow(/cost must be a positive integer/);
    await expect(limiter.consume({}, 1.5)).rejects.toThrow(/cost/);
    expect(() => createRedis({ url: 'http://nope' })).toThrow(/invalid Redis URL/);
  });

  it('rejects, without blocking, while Redis is unreachable', async () => {
    const redis = createRedis({ url: 'redis://127.0.0.1:1' });
    const limiter = createRateLimit(redis, { points: 1, interval: 1000, keyBy: () => 'k' });
    const started = Date.now();
    await expect(limiter.consume({})).rejects.toThrow(/Redis/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
