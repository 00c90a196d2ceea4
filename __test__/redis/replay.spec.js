// `replay` across instances (issue 10, reference bug §9.11): with a Redis bus the log lives in
// Redis, so every instance numbers a topic's events the same way, and a client that comes
// back to ANY instance with its last sequence gets exactly what it missed, or the full data
// when the shared log cannot cover it.
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers.js';
import { fixture, user } from './cluster.js';

const cluster = fixture();
afterEach(() => cluster.cleanup());
const pair = () => cluster.pair();

async function connectUser(instance, name) {
  const ws = await user(instance.url, name);
  cluster.track(ws);
  return ws;
}

const logged = (ws, topic) => ws.events.filter((e) => e.topic === topic);

describe('replay with a Redis bus', () => {
  it('one numbering for all instances, and a reconnect to another instance gets exactly the missed events', async () => {
    const [a, b] = await pair();
    const onA = await connectUser(a, 'ua');
    const onB = await connectUser(b, 'ub');
    const first = await onA.stream('feed/log', 'news');
    expect(first).toMatchObject({ ok: true, data: [{ id: 'full' }], epoch: expect.stringMatching(/^[0-9a-f]{16}$/) });
    const fromB = await onB.stream('feed/log', 'news');
    expect(fromB).toMatchObject({ seq: first.seq, epoch: first.epoch }); // the same log
    const s0 = first.seq;

    const pubA = await connectUser(a, 'pa');
    const pubB = await connectUser(b, 'pb');
    await pubA.call('feed/add', 'news', { id: 'n1' });
    await pubB.call('feed/add', 'news', { id: 'n2' });
    await pubA.call('feed/add', 'news', { id: 'n3' });
    for (const ws of [onA, onB]) await waitFor(() => logged(ws, 'news').length >= 3);
    await new Promise((r) => setTimeout(r, 200)); // a duplicate would be here by now
    // Publishers race (their publishes reach Redis in any order), but every instance sees
    // the same order and numbering, each event once; one publisher's order holds.
    const seen = logged(onA, 'news').map((e) => [e.data.id, e.seq]);
    expect(logged(onB, 'news').map((e) => [e.data.id, e.seq])).toEqual(seen);
    expect(seen.map(([, seq]) => seq)).toEqual([s0 + 1, s0 + 2, s0 + 3]);
    expect(seen.map(([id]) => id).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(seen.map(([id]) => id).filter((id) => id !== 'n2')).toEqual(['n1', 'n3']);
    const idAt = (seq) => seen.find(([, s]) => s === seq)[0];

    // User A "reconnects" to instance B having seen n1 only.
    const back = await connectUser(b, 'ua-again');
    const replayed = await back.streamWith({ seq: s0 + 1, epoch: first.epoch }, 'feed/log', 'news');
    expect(replayed).toMatchObject({ ok: true, replay: true, seq: s0 + 3 });
    const via = { n1: 'i0', n2: 'i1', n3: 'i0' };
    expect(replayed.data).toEqual(
      [s0 + 2, s0 + 3].map((seq) => ({ seq, event: 'created', data: { id: idAt(seq), via: via[idAt(seq)] } })),
    );
    // Up to date: nothing to send. Another epoch or a future sequence: the full data.
    expect(await back.streamWith({ seq: s0 + 3, epoch: first.epoch }, 'feed/log', 'news')).toMatchObject({ replay: true, data: [] });
    for (const extra of [{ seq: s0 + 1, epoch: '0123456789abcdef' }, { seq: s0 + 9, epoch: first.epoch }]) {
      expect(await back.streamWith(extra, 'feed/log', 'news')).toMatchObject({ replay: false, data: [{ id: 'full' }] });
    }
  });

  it('a gap the shared log no longer covers means the full data', async () => {
    const [a, b] = await pair();
    const onA = await connectUser(a, 'ua');
    const first = await onA.stream('feed/log', 'trimmed');
    const pub = await connectUser(b, 'pb');
    for (let i = 1; i <= 8; i++) await pub.call('feed/add', 'trimmed', { id: `t${i}` }); // size 5
    await waitFor(() => logged(onA, 'trimmed').length === 8);
    const back = await connectUser(b, 'again');
    const s0 = first.seq;
    expect(await back.streamWith({ seq: s0 + 1, epoch: first.epoch }, 'feed/log', 'trimmed')).toMatchObject({ replay: false });
    const covered = await back.streamWith({ seq: s0 + 3, epoch: first.epoch }, 'feed/log', 'trimmed');
    expect(covered).toMatchObject({ replay: true });
    expect(covered.data.map((e) => e.data.id)).toEqual(['t4', 't5', 't6', 't7', 't8']);
  });
});
