#!/usr/bin/env node
// One merge event applied to a stream value of 100, 10,000 and 100,000 items, for each
// strategy, in the browser engine (lib/shared/merge.js): the same scenarios as the criterion
// bench `benches/merge.rs` for the Rust engine. Only the JavaScript engine is timed here:
// through NativeMergeState every event would also pay the napi crossing and JSON, which is
// not what the comparison is about.
//
// Each run times many events back to back (data built beforehand); events that change the
// size are undone between timed batches, untimed. Reported: the median of RUNS runs, in
// nanoseconds per event.
//
// Run: `node benches/merge.js` (add `--expose-gc` to collect garbage between runs).

import { createMergeState } from '../lib/shared/merge.js';

const SIZES = [100, 10_000, 100_000];
const RUNS = 9;
/** Target time of one run, so small costs get many events and big ones a few. */
const RUN_NS = 40e6;

const crudItem = (id) => ({ id, text: `item ${id}`, done: false, createdAt: 1_764_270_000_000 + id });
const presenceItem = (i) => ({ key: `user-${i}`, name: `User ${i}`, status: 'online' });
const cursorItem = (i) => ({ key: `user-${i}`, x: i, y: i * 2, color: '#e11d48' });

function state(merge, n, item) {
  return createMergeState({ merge, max: n }, Array.from({ length: n }, (_, i) => item(i)));
}

const now = () => process.hrtime.bigint();

/**
 * `batch(count)` runs `count` events and returns the nanoseconds they took (untimed work,
 * such as undoing them, happens inside it but outside its own timing). The first call
 * warms up and sizes the runs.
 */
function measure(batch, maxPerBatch = Infinity) {
  const run = (events) => {
    let ns = 0;
    for (let left = events; left > 0; ) {
      const count = Math.min(left, maxPerBatch);
      ns += batch(count);
      left -= count;
    }
    return ns;
  };
  // Warm up, then size a run to about RUN_NS.
  let events = 16;
  let ns = run(events);
  while (ns < RUN_NS / 8 && events < 1 << 26) {
    events *= 2;
    ns = run(events);
  }
  const perRun = Math.max(1, Math.round((events * RUN_NS) / Math.max(ns, 1)));
  const samples = [];
  for (let r = 0; r < RUNS; r++) {
    globalThis.gc?.();
    samples.push(run(perRun) / perRun);
  }
  samples.sort((a, b) => a - b);
  return samples[RUNS >> 1];
}

/** An event that leaves the size unchanged; a pool of prebuilt data objects is cycled. */
function sameSize(merge, event, item, edit) {
  return (n) => {
    const s = state(merge, n, item);
    const pool = Array.from({ length: 1024 }, () => edit(item(n >> 1)));
    let next = 0;
    return measure((count) => {
      const started = now();
      for (let i = 0; i < count; i++) s.apply(event, pool[next++ & 1023]);
      return Number(now() - started);
    });
  };
}

const scenarios = [
  ['crud `updated`, existing key', sameSize('crud', 'updated', crudItem, (d) => ({ ...d, done: true }))],
  ['crud `created`, upsert of an existing key', sameSize('crud', 'created', crudItem, (d) => ({ ...d, text: 'edited' }))],
  [
    'crud `created`, new key (append)',
    (n) => {
      const s = state('crud', n, crudItem);
      return measure((count) => {
        const fresh = Array.from({ length: count }, (_, i) => crudItem(n + i));
        const started = now();
        for (let i = 0; i < count; i++) s.apply('created', fresh[i]);
        const ns = Number(now() - started);
        // Deleting the last item shifts nothing.
        for (let i = count - 1; i >= 0; i--) s.apply('deleted', { id: n + i });
        return ns;
      }, 1000);
    },
  ],
  [
    'crud `deleted`, middle',
    (n) => {
      const s = state('crud', n, crudItem);
      // A few deletes around the middle per batch, then the items come back at the end.
      return measure(
        (count) => {
          const start = (n >> 1) - (count >> 1);
          const removed = s.value.slice(start, start + count);
          const keys = removed.map((item) => ({ id: item.id }));
          const started = now();
          for (let i = 0; i < count; i++) s.apply('deleted', keys[i]);
          const ns = Number(now() - started);
          for (const item of removed) s.apply('created', item);
          return ns;
        },
        Math.min(64, Math.max(1, Math.floor(n / 10))),
      );
    },
  ],
  ['latest push at max (max = size)', sameSize('latest', 'created', crudItem, (d) => ({ ...d }))],
  ['presence `join`, existing key', sameSize('presence', 'join', presenceItem, (d) => ({ ...d, status: 'away' }))],
  ['cursor `update`, existing key', sameSize('cursor', 'update', cursorItem, (d) => ({ ...d, x: 7 }))],
  [
    'set, new value of the same size',
    (n) => {
      const s = state('set', n, crudItem);
      const values = [0, 1].map(() => Array.from({ length: n }, (_, i) => crudItem(i)));
      let next = 0;
      return measure((count) => {
        const started = now();
        for (let i = 0; i < count; i++) s.apply('set', values[next++ & 1]);
        return Number(now() - started);
      });
    },
  ],
];

function format(ns) {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

console.log(`JavaScript merge engine, ns per event (median of ${RUNS} runs), Node ${process.version}\n`);
console.log(`| scenario | ${SIZES.map((n) => n.toLocaleString('en-US')).join(' | ')} |`);
console.log(`|---|${SIZES.map(() => '---:').join('|')}|`);
for (const [name, bench] of scenarios) {
  const cells = SIZES.map((n) => format(bench(n)));
  console.log(`| ${name} | ${cells.join(' | ')} |`);
}
