// Worker threads on one Rust server (issue 11): 4 runners (the main thread and 3 workers)
// load the same app; sockets are spread over them at upgrade, a publish from any runner
// reaches every subscriber once, counts are global, cron runs on the main thread only, a
// crashed worker's sockets close with 1011 while the others keep answering and it comes
// back, and shutdown drains the workers' handlers in flight.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, start, waitFor } from '../helpers.js';
import { appHooks } from './app.js';
import { clearReactions } from '../../lib/server/reactive.js';
import { clearCronJobs } from '../../lib/server/cron.js';

const entry = new URL('./worker.js', import.meta.url);
let server;
const clients = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await server?.close();
  server = null;
  clearReactions(); // each test registers the app again on this (main) thread
  clearCronJobs();
});

async function cluster(count) {
  server = await start({ hooks: appHooks() });
  const workers = server.spawnWorkers(entry, count);
  await workers.ready();
  return workers;
}

/** A raw client; `call(path, ...args)` resolves with the RPC reply's data. */
async function client(name = 'anon') {
  const ws = await connect(`${server.wsUrl}?u=${name}`);
  clients.push(ws);
  const replies = new Map();
  ws.events = [];
  ws.on('message', (raw) => {
    const msg = JSON.parse(raw.toString());
    if (msg.topic === '__rpc') replies.get(msg.event)?.(msg.data);
    else ws.events.push(msg);
  });
  let n = 0;
  const send = (path, args, extra = {}) =>
    new Promise((resolve) => {
      const id = `c${++n}`;
      replies.set(id, resolve);
      ws.send(JSON.stringify({ rpc: path, id, args, ...extra }));
    });
  ws.call = (path, ...args) => send(path, args);
  ws.stream = (path, ...args) => send(path, args, { stream: true });
  ws.closeCode = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  return ws;
}

/** `count` clients (named by `nameOf(i)`), opened one after the other, and the thread of each. */
async function openClients(count, nameOf = () => 'anon') {
  const all = [];
  for (let i = 0; i < count; i++) all.push(await client(nameOf(i)));
  const ids = (await Promise.all(all.map((ws) => ws.call('app/where')))).map((r) => r.data);
  return { all, ids };
}

describe('worker threads on one server', () => {
  it('spreads sockets over the runners; a publish from any of them reaches every subscriber once', async () => {
    await cluster(4);
    const subs = [];
    for (let i = 0; i < 12; i++) subs.push(await client());
    const threads = await Promise.all(subs.map((ws) => ws.call('app/where')));
    const ids = threads.map((r) => r.data);
    expect(new Set(ids).size).toBe(4); // least-loaded assignment: 3 sockets per runner
    for (const ws of subs) expect((await ws.stream('app/feed')).ok).toBe(true);
    // Each runner publishes once (the caller's runner runs `add`).
    const byRunner = new Map(ids.map((id, i) => [id, subs[i]]));
    for (const [thread, ws] of byRunner) expect((await ws.call('app/add', { id: `from-${thread}` })).data).toBe(thread);
    for (const ws of subs) await waitFor(() => ws.events.filter((e) => e.topic === 'feed').length >= 4);
    await new Promise((r) => setTimeout(r, 100));
    for (const ws of subs) {
      const got = ws.events.filter((e) => e.topic === 'feed').map((e) => e.data.id).sort();
      expect(got).toEqual([...byRunner.keys()].map((t) => `from-${t}`).sort());
    }
  });

  it('derived, effect and aggregate: once per source publish, one state whichever thread serves', async () => {
    await cluster(3);
    const { all, ids } = await openClients(6);
    expect(new Set(ids).size).toBe(3);
    const watcher = all[0];
    expect((await watcher.stream('app/totals')).data).toEqual({ count: 0 });
    for (const [i, ws] of all.entries()) await ws.call('app/add', { id: `e${i}` }); // from every thread
    await waitFor(() => watcher.events.some((e) => e.topic === 'feed-totals' && e.data.count === 6));
    await new Promise((r) => setTimeout(r, 100));
    const totals = watcher.events.filter((e) => e.topic === 'feed-totals').map((e) => e.data.count);
    expect(totals).toEqual([1, 2, 3, 4, 5, 6]); // one recomputation per publish, in one place
    // Every thread serves the same aggregate state to a new subscriber.
    const served = await Promise.all(all.map((ws) => ws.stream('app/totals')));
    expect(served.map((r) => r.data.count)).toEqual([6, 6, 6, 6, 6, 6]);
    // The effect ran 6 times in all, on the main thread.
    const runs = await Promise.all(all.map((ws) => ws.call('app/effectRuns')));
    const byThread = new Map(runs.map((r, i) => [ids[i], r.data]));
    expect(byThread.get(0)).toBe(6);
    expect([...byThread].filter(([t]) => t !== 0).every(([, n]) => n === 0)).toBe(true);
  });

  it('connections and subscribers count every runner\'s sockets; cron runs on the main thread only', async () => {
    await cluster(3);
    const all = [];
    for (let i = 0; i < 6; i++) all.push(await client());
    for (const ws of all.slice(0, 4)) await ws.stream('app/feed');
    const counts = await Promise.all(all.map((ws) => ws.call('app/counts')));
    expect(new Set(counts.map((c) => c.data.by)).size).toBe(3);
    for (const c of counts) expect(c.data).toMatchObject({ connections: 6, subscribers: 4 });
    expect(server.connections).toBe(6);
    expect(server.platform.connections).toBe(6);
    const cron = await Promise.all(all.map((ws) => ws.call('app/cronArmed')));
    const armed = cron.filter((c) => c.data.armed).map((c) => c.data.by);
    expect(new Set(armed)).toEqual(new Set([0])); // threadId 0 is the main thread
  });

  it('sendTo reaches matching sockets on every thread, by their user data', async () => {
    await cluster(3);
    // The first three: one per thread.
    const { all, ids } = await openClients(9, (i) => (i < 3 ? `vip${i}` : `guest${i}`));
    const vips = all.slice(0, 3);
    expect(new Set(ids.slice(0, 3)).size).toBe(3); // vips on every thread
    for (const [i, ws] of all.entries()) {
      const sent = await ws.call('app/tell', 'vip', `hello ${i}`);
      expect(sent.data).toBe(3);
    }
    for (const ws of vips) await waitFor(() => ws.events.filter((e) => e.topic === 'notes').length === 9);
    for (const ws of all.slice(3)) expect(ws.events.filter((e) => e.topic === 'notes')).toHaveLength(0);
    // A closed socket leaves every thread's view.
    vips[0].terminate();
    await waitFor(async () => (await all[1].call('app/tell', 'vip', 'again')).data === 2);
  });

  it('a crashed worker: its sockets close with 1011, the others keep answering, it comes back', async () => {
    const workers = await cluster(3);
    const { all, ids } = await openClients(6);
    const victim = ids.find((id) => id !== 0);
    const doomed = all.filter((_, i) => ids[i] === victim);
    const others = all.filter((_, i) => ids[i] !== victim);
    await doomed[0].call('app/crash');
    for (const ws of doomed) expect(await ws.closeCode).toBe(1011);
    for (const ws of others) expect((await ws.call('app/where')).ok).toBe(true);
    await waitFor(() => workers.size === 2, 5000);
    await workers.ready();
    // New sockets reach the restarted worker too.
    const fresh = [];
    for (let i = 0; i < 6; i++) fresh.push(await client());
    const freshIds = (await Promise.all(fresh.map((ws) => ws.call('app/where')))).map((r) => r.data);
    expect(new Set(freshIds).size).toBeGreaterThanOrEqual(2);
    expect(freshIds).not.toContain(victim);
  });

  it('a worker that throws at startup is restarted with backoff; the others serve meanwhile', async () => {
    server = await start({ hooks: appHooks() });
    const marker = join(mkdtempSync(join(tmpdir(), 'sr-worker-')), 'marker');
    const flaky = server.spawnWorkers(new URL('./failing-worker.js', import.meta.url), 2, { workerData: { marker } });
    await flaky.ready(); // the second start succeeds
    const ws = await client();
    expect((await ws.call('app/where')).ok).toBe(true);
    const restarts = server.log.lines.filter((l) => /worker 1 exited with code 1; restarting in 100 ms/.test(l.text));
    expect(restarts).toHaveLength(1);
  });

  it('a worker that always fails backs off (100 ms doubling) and ready() gives up at its timeout', async () => {
    server = await start({ hooks: appHooks() });
    const broken = server.spawnWorkers(new URL('./failing-worker.js', import.meta.url), 2, { workerData: { fail: 'always' } });
    await expect(broken.ready(1500)).rejects.toThrow(/not serving after 1500 ms/);
    const waits = server.log.lines
      .map((l) => /worker 1 exited with code 1; restarting in (\d+) ms/.exec(l.text)?.[1])
      .filter(Boolean)
      .map(Number);
    expect(waits.slice(0, 4)).toEqual([100, 200, 400, 800]);
    // The main thread serves all along.
    const ws = await client();
    expect((await ws.call('app/where')).data).toBe(0);
  });

  it('graceful shutdown lets the workers\' handlers in flight answer before the 1001', async () => {
    await cluster(3);
    const { all, ids } = await openClients(6);
    expect(new Set(ids).size).toBe(3);
    const pending = all.map((ws) => ws.call('app/slow'));
    await new Promise((r) => setTimeout(r, 50));
    const closing = server.close();
    server = null;
    const replies = await Promise.all(pending);
    expect(replies.every((r) => r.ok)).toBe(true);
    for (const ws of all) expect(await ws.closeCode).toBe(1001);
    await closing;
  });
});
