// The bus when Redis goes away mid-stream (issue 10, faults): local delivery never stops,
// what could not cross is counted and logged once per outage, and once Redis is back the
// instances resubscribe by themselves.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers.js';
import { startInstance, uniqueChannel, user } from './cluster.js';
import { freePort, startRedis } from './redis-server.js';

const cleanup = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const created = (ws, topic) => ws.events.filter((e) => e.topic === topic && e.event === 'created');

/** Two instances on one fresh channel of the Redis at `url`, stopped after the test. */
async function twoOn(url) {
  const channel = uniqueChannel();
  const pair = await Promise.all(['a', 'b'].map((name) => startInstance({ redis: url, channel, name })));
  cleanup.push(...pair.map((instance) => () => instance.stop()));
  return pair;
}

describe('Redis outage', () => {
  it('local publishes keep flowing, losses are counted and logged once, and delivery resumes', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    cleanup.push(() => redis.stop());
    const [a, b] = await twoOn(redis.url);
    const sa = await user(a.url, 'sa');
    const sb = await user(b.url, 'sb');
    const pub = await user(a.url, 'pub');
    cleanup.push(() => [sa, sb, pub].forEach((c) => c.terminate()));
    expect((await sa.stream('feed/items', 'live')).ok).toBe(true);
    expect((await sb.stream('feed/items', 'live')).ok).toBe(true);

    let n = 0;
    const publish = async (count) => {
      for (let i = 0; i < count; i++) await pub.call('feed/add', 'live', { id: n, n: n++ });
    };
    await publish(20);
    await waitFor(() => created(sb, 'live').length === 20);

    await redis.stop();
    const before = n;
    await publish(30);
    // The publishing instance's own subscribers miss nothing.
    await waitFor(() => created(sa, 'live').length === n);
    await waitFor(async () => (await a.stats()).bus.publishFailed > 0);
    const down = await a.stats();
    expect(down.bus.outages).toBeGreaterThanOrEqual(1);
    expect(down.bus.published + down.bus.publishFailed).toBeLessThanOrEqual(n);

    redis = await startRedis(port);
    // Both sides reconnect and resubscribe without any client action.
    await waitFor(async () => {
      await publish(1);
      const last = n - 1;
      return created(sb, 'live').some((e) => e.data.n === last);
    }, 15_000);
    expect(created(sa, 'live')).toHaveLength(n);
    // b received everything from before the outage, in order, and nothing twice.
    const got = created(sb, 'live').map((e) => e.data.n);
    expect(new Set(got).size).toBe(got.length);
    expect(got.slice(0, 20)).toEqual([...Array(20).keys()]);
    expect([...got].sort((x, y) => x - y)).toEqual(got);
    const lost = n - got.length;
    const after = await a.stats();
    expect(after.bus.publishFailed).toBeGreaterThanOrEqual(lost > 0 ? 1 : 0);
    expect(before).toBe(20);
    // One warning per outage, not one per message.
    const warnings = a.stderr.split('\n').filter((l) => l.includes('connection lost'));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(after.bus.outages);
    expect(a.stderr).toContain('connection back');
  });

  it('a replayed topic whose publishes Redis missed gets a new epoch: reconnecting clients refetch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sr-redis-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    let redis = await startRedis(port, { dir }); // keeps its data across the restart
    cleanup.push(() => redis.stop());
    const [a, b] = await twoOn(redis.url);
    const onA = await user(a.url, 'sa');
    const onB = await user(b.url, 'sb');
    cleanup.push(() => [onA, onB].forEach((c) => c.terminate()));
    const first = await onB.stream('feed/log', 'orders');
    expect((await onA.stream('feed/log', 'orders')).epoch).toBe(first.epoch);
    await onA.call('feed/add', 'orders', { id: 'before' });
    await waitFor(() => created(onB, 'orders').length === 1);
    const seen = created(onB, 'orders')[0].seq;

    await redis.stop();
    await onA.call('feed/add', 'orders', { id: 'lost' }); // a's own subscriber still gets it
    await waitFor(() => created(onA, 'orders').some((e) => e.data.id === 'lost'));
    expect(created(onA, 'orders').find((e) => e.data.id === 'lost').seq).toBeUndefined();
    redis = await startRedis(port, { dir });
    await waitFor(async () => {
      await onA.call('feed/add', 'orders', { id: `after-${Date.now()}` });
      return created(onB, 'orders').length > 1;
    }, 15_000);
    // b's client never got 'lost'; the next event it sees jumps past a hole.
    const next = created(onB, 'orders')[1];
    expect(next.seq).toBeGreaterThan(seen + 1);
    // Coming back with the old epoch (to either instance) means the full data, not a replay
    // that silently lacks 'lost'.
    const back = await onB.streamWith({ seq: seen, epoch: first.epoch }, 'feed/log', 'orders');
    expect(back).toMatchObject({ replay: false, data: [{ id: 'full' }] });
    expect(back.epoch).not.toBe(first.epoch);
  });
});
