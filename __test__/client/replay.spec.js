// `replay: true` out of the box (issue 10, reference bug §9.11): the server keeps a log per
// topic with a sequence and an epoch, every event carries its sequence, and the client
// applies each event once, asks for exactly what it missed after a reconnect, refetches when
// the log cannot cover the gap or is another one, and notices a hole while connected.
import { afterEach, describe, expect, it } from 'vitest';
import { live } from '../../lib/server/index.js';
import { __stream } from '../../lib/client/index.js';
import { sleep, startRealtime, teardown, watch } from './harness.js';
import { waitFor } from '../helpers.js';

let env;
afterEach(async () => {
  await teardown(env);
  env = null;
});

function feedModule(options = {}) {
  const fetches = { count: 0 };
  return {
    fetches,
    module: {
      feed: live.stream('feed', () => {
        fetches.count++;
        return [{ id: 'full' }];
      }, { merge: 'latest', max: 100, replay: true, ...options }),
    },
  };
}

const streamRequests = (frames) => frames.map((f) => JSON.parse(f)).filter((m) => m.stream);
const ids = (value) => value.map((item) => item.id);
const nativeOf = (env) => env.server.platform[Symbol.for('svelte-realtime.nativeServer')]();

async function dropConnection() {
  for (const ws of env.sockets) ws.close(1012, 'restart');
  await waitFor(() => env.sockets.size === 0);
}

describe('replay: true without any extension', () => {
  it('every event carries its sequence; a reconnect gets exactly the missed events once', async () => {
    const { module, fetches } = feedModule();
    env = await startRealtime({ m: module });
    const seen = watch(__stream('m/feed', { merge: 'latest', max: 100 }));
    await waitFor(() => Array.isArray(seen.last));
    const publish = (id) => env.server.platform.publish('feed', 'created', { id });
    publish('e1');
    publish('e2');
    await waitFor(() => seen.last.length === 3);

    await dropConnection();
    publish('e3'); // while the client is away
    publish('e4');
    await waitFor(() => streamRequests(env.frames).length === 2 && seen.last.length === 5);
    publish('e5');
    await waitFor(() => seen.last.length === 6);
    await sleep(50);
    expect(ids(seen.last)).toEqual(['full', 'e1', 'e2', 'e3', 'e4', 'e5']);
    const [first, again] = streamRequests(env.frames);
    expect(first.seq).toBeUndefined();
    expect(again).toMatchObject({ epoch: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(again.seq).toBeGreaterThan(1_700_000_000_000_000); // microseconds since 1970 when the log began, + 2
    expect(fetches.count).toBe(1); // the reconnect was answered from the log
  });

  it('refetches when the log no longer covers the gap, or the epoch is not its own', async () => {
    const { module, fetches } = feedModule({ replay: { size: 2 } });
    env = await startRealtime({ m: module });
    const seen = watch(__stream('m/feed', { merge: 'latest', max: 100 }));
    await waitFor(() => Array.isArray(seen.last));
    await dropConnection();
    for (let i = 1; i <= 5; i++) env.server.platform.publish('feed', 'created', { id: `e${i}` });
    await waitFor(() => fetches.count === 2);
    await waitFor(() => streamRequests(env.frames).length === 2);
    await sleep(50);
    expect(ids(seen.last)).toEqual(['full']); // the full data, not a partial replay
  });

  it('an answer to an unknown epoch or a future seq is the full data', async () => {
    const { module } = feedModule();
    env = await startRealtime({ m: module });
    const { connect } = await import('../helpers.js');
    const raw = await connect(env.server.wsUrl);
    const replies = [];
    raw.on('message', (m) => replies.push(JSON.parse(m.toString())));
    const ask = (id, extra) => raw.send(JSON.stringify({ rpc: 'm/feed', id, args: [], stream: true, ...extra }));
    ask('a', {});
    await waitFor(() => replies.some((r) => r.event === 'a'));
    const first = replies.find((r) => r.event === 'a').data;
    expect(first).toMatchObject({ ok: true, seq: expect.any(Number), epoch: expect.any(String) });
    const s0 = first.seq;
    env.server.platform.publish('feed', 'created', { id: 'x' });
    await waitFor(() => replies.some((r) => r.topic === 'feed'));
    expect(replies.find((r) => r.topic === 'feed')).toEqual({ topic: 'feed', event: 'created', data: { id: 'x' }, seq: s0 + 1 });
    ask('b', { seq: s0, epoch: 'ffffffffffffffff' });
    ask('c', { seq: s0 + 7, epoch: first.epoch });
    ask('d', { seq: s0 }); // the reference client sends no epoch
    ask('e', { seq: s0, epoch: first.epoch });
    await waitFor(() => ['b', 'c', 'd', 'e'].every((id) => replies.some((r) => r.event === id)));
    const reply = (id) => replies.find((r) => r.event === id).data;
    for (const id of ['b', 'c', 'd']) expect(reply(id)).toMatchObject({ data: [{ id: 'full' }], replay: false, seq: s0 + 1 });
    expect(reply('e')).toMatchObject({ replay: true, seq: s0 + 1, data: [{ seq: s0 + 1, event: 'created', data: { id: 'x' } }] });
    raw.terminate();
  });

  it('a hole while connected makes the client ask for the missing events', async () => {
    const { module } = feedModule();
    env = await startRealtime({ m: module });
    const seen = watch(__stream('m/feed', { merge: 'latest', max: 100 }));
    await waitFor(() => Array.isArray(seen.last));
    env.server.platform.publish('feed', 'created', { id: 'e1' });
    await waitFor(() => seen.last.length === 2);
    // Sequence 2 and 3 happen but only 3 reaches this socket (as if 2 were lost on the way).
    env.server.platform.publish('feed', 'created', { id: 'e2' });
    await waitFor(() => seen.last.length === 3);
    const ws = [...env.sockets][0];
    const s0 = streamRequests(env.frames).length; // 1
    const last = (await nativeOf(env).replayEnable('feed', 1000)).seq; // e2's sequence
    ws.send(JSON.stringify({ topic: 'feed', event: 'created', data: { id: 'e4' }, seq: last + 2 }));
    await waitFor(() => streamRequests(env.frames).length === s0 + 1);
    expect(streamRequests(env.frames)[1]).toMatchObject({ seq: last });
    await sleep(50);
    expect(ids(seen.last)).toEqual(['full', 'e1', 'e2']); // seq 4 is not in the log: nothing invented
  });
});
