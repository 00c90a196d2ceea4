// The app every runner of the worker tests loads (main thread and worker threads alike):
// live functions that say which thread ran them, a stream, a publish, global counts, a
// crash, a slow call, and a cron job.
import { threadId } from 'node:worker_threads';
import { close, createMessage, live, Registry } from '../../lib/server/index.js';
import { cronScheduled } from '../../lib/server/cron.js';

export function appHooks() {
  let effectRuns = 0;
  const registry = new Registry();
  registry.registerModule('app', {
    where: live(() => threadId),
    feed: live.stream('feed', async () => [], { merge: 'latest', max: 1000 }),
    add: live((ctx, item) => {
      ctx.publish('feed', 'created', { ...item, by: threadId });
      return threadId;
    }),
    counts: live((ctx) => ({ connections: ctx.platform.connections, subscribers: ctx.platform.subscribers('feed'), by: threadId })),
    crash: live(() => {
      setTimeout(() => process.exit(3), 10); // in a worker thread this ends only that thread
      return threadId;
    }),
    slow: live(async () => {
      await new Promise((r) => setTimeout(r, 300));
      return threadId;
    }),
    cronArmed: live(() => ({ armed: cronScheduled(), by: threadId })),
    // Every socket whose user name starts with `prefix`, wherever it lives.
    tell: live((ctx, prefix, text) => ctx.platform.sendTo((user) => user.name?.startsWith(prefix), 'notes', 'note', { text, by: threadId })),
    tick: live.cron('* * * * *', 'ticks', () => Date.now()),
    // Counts 'created' events on 'feed' once per publish, whichever thread published.
    totals: live.aggregate('feed', { count: { init: () => 0, reduce: (n, event) => (event === 'created' ? n + 1 : n) } }, { topic: 'feed-totals' }),
    effectRuns: live(() => effectRuns),
    seen: live.effect('feed', () => {
      effectRuns += 1;
    }),
  });
  return {
    upgrade: ({ url }) => ({ name: new URL(url, 'http://x').searchParams.get('u') ?? 'anon' }),
    message: createMessage({ registry }),
    close,
    subscribe: () => true,
  };
}
