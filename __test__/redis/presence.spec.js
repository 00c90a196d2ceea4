// Presence and cursors across instances (issue 10): the state lives in Redis, so a late
// joiner on any instance sees the members and cursors that joined on every other one, leaves
// are seen everywhere, and the members of a crashed instance disappear within the documented
// 15 s (10 s alive-key TTL + 5 s sweep).
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers.js';
import { fixture, user } from './cluster.js';

const cluster = fixture();
afterEach(() => cluster.cleanup());
const pair = () => cluster.pair();

async function member(instance, name, room) {
  const ws = await user(instance.url, name);
  cluster.track(ws);
  expect((await ws.stream('feed/room/__data', room)).ok).toBe(true);
  return ws;
}

async function watcher(instance, name, room, channel = '__presence') {
  const ws = await user(instance.url, name);
  cluster.track(ws);
  const reply = await ws.stream(`feed/room/${channel}`, room);
  expect(reply.ok).toBe(true);
  ws.initial = reply.data;
  return ws;
}

/** The member keys a watcher holds: its snapshot, then the join/leave events it received. */
function members(ws, topic) {
  const keys = new Set((ws.initial ?? []).map((m) => m.key));
  for (const e of ws.events.filter((e) => e.topic === topic)) {
    if (e.event === 'join') keys.add(e.data.key);
    if (e.event === 'leave') keys.delete(e.data.key);
  }
  return [...keys].sort();
}

describe('presence across instances', () => {
  it('late joiners anywhere see every instance\'s members; leaves reach everyone', async () => {
    const [a, b] = await pair();
    const alice = await member(a, 'alice', 'r1');
    const late = await watcher(b, 'bob', 'r1');
    expect(late.initial).toEqual([{ key: 'alice', data: { name: 'alice' } }]);
    await member(b, 'carol', 'r1');
    const onA = await watcher(a, 'dave', 'r1');
    expect(onA.initial.map((m) => m.key)).toEqual(['alice', 'carol']); // join order
    await waitFor(() => members(late, 'room:r1:presence').join() === 'alice,carol');

    alice.terminate();
    for (const ws of [late, onA]) await waitFor(() => members(ws, 'room:r1:presence').join() === 'carol');
    const later = await watcher(a, 'erin', 'r1');
    expect(later.initial.map((m) => m.key)).toEqual(['carol']);
  });

  it('cursors are shared the same way', async () => {
    const [a, b] = await pair();
    await member(a, 'alice', 'r2');
    await a.publish('room:r2:cursors', 'update', { key: 'alice', data: { x: 1, y: 2 } });
    await a.publish('room:r2:cursors', 'update', { key: 'alice', data: { x: 3, y: 4 } });
    const late = await watcher(b, 'bob', 'r2', '__cursors');
    expect(late.initial).toEqual([{ key: 'alice', data: { x: 3, y: 4 } }]);
  });

  it('the members of a crashed instance leave within 15 s', { timeout: 30000 }, async () => {
    const [a, b] = await pair();
    await member(a, 'alice', 'r3');
    await member(b, 'bob', 'r3');
    const onB = await watcher(b, 'carol', 'r3');
    expect(onB.initial.map((m) => m.key)).toEqual(['alice', 'bob']);
    const crashed = Date.now();
    await a.kill();
    await waitFor(() => members(onB, 'room:r3:presence').join() === 'bob', 20000);
    const took = Date.now() - crashed;
    expect(took).toBeLessThan(17000); // 15 s at most, plus scheduling
    const late = await watcher(b, 'dave', 'r3');
    expect(late.initial.map((m) => m.key)).toEqual(['bob']);
    // The leave was announced once.
    expect(onB.events.filter((e) => e.event === 'leave' && e.data.key === 'alice')).toHaveLength(1);
  });
});
