#!/usr/bin/env node
// Cross-instance fan-out through the Redis bus against single-instance fan-out, in the same
// run, alternating order (issue 10).
//
//   node benches/cross-instance.js [--reps 5] [--quick] [--redis redis://127.0.0.1:6379]
//
// single: one native server (benches/servers/native.js), N clients on it, it publishes M
//         envelopes (~100 B of data).
// cross:  two native servers joined by a Redis bus (a fresh channel per run), N/2 clients on
//         each, the publisher on the first: every publish crosses Redis once to reach the
//         second.
// Clients are two load-generator processes (crates/realtime-loadgen) of N/2 each in both
// cases, so only the bus differs. Deliveries/s are all deliveries over the time from the
// `publish` command to the last delivery of both load generators; nothing may be lost.
// Redis figures come from the bus counters (publishes, pipelines = round trips) and from
// Redis' own INFO (bytes received per publish, all clients of that Redis included).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildLoadgen, child, median } from './lib/proc.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const reps = Number(option('--reps', 5));
const quick = args.includes('--quick');
const redisUrl = option('--redis', process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const scenarios = quick
  ? [{ clients: 100, messages: 500, payload: 100 }]
  : [
      { clients: 100, messages: 2000, payload: 100 },
      { clients: 1000, messages: 200, payload: 100 },
    ];

function redisInfo() {
  const { hostname, port } = new URL(redisUrl);
  const out = spawnSync('redis-cli', ['-h', hostname, '-p', port || '6379', 'INFO', 'stats'], { encoding: 'utf8' }).stdout ?? '';
  const field = (name) => Number(new RegExp(`${name}:(\\d+)`).exec(out)?.[1] ?? NaN);
  return { inputBytes: field('total_net_input_bytes'), commands: field('total_commands_processed') };
}

async function server(env) {
  const proc = child(process.execPath, [join(here, 'servers', 'native.js')], { env });
  const port = (await proc.line((l) => l.startsWith('PORT '))).split(' ')[1];
  proc.url = `ws://127.0.0.1:${port}/ws`;
  return proc;
}

async function busStats(proc) {
  proc.stdin.write('stats\n');
  return JSON.parse((await proc.line((l) => l.startsWith('STATS '))).slice(6));
}

async function runOnce(loadgen, kind, { clients, messages, payload }) {
  const env = kind === 'cross' ? { BUS_URL: redisUrl, BUS_CHANNEL: `bench:${randomBytes(4).toString('hex')}` } : {};
  const a = await server(env);
  const b = kind === 'cross' ? await server(env) : a;
  const half = clients / 2;
  const gens = [a, b].map((s) => child(loadgen, ['fanout', s.url, String(half), String(messages), 'bench']));
  await Promise.all(gens.map((g) => g.line((l) => l === 'READY')));
  if (kind === 'cross') await new Promise((r) => setTimeout(r, 300)); // bus subscriptions confirmed
  const before = redisInfo();
  const t0 = process.hrtime.bigint();
  a.stdin.write(`publish ${messages} ${payload}\n`);
  const results = await Promise.all(gens.map(async (g) => JSON.parse(await g.line((l) => l.startsWith('{')))));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = redisInfo();
  const bus = kind === 'cross' ? await busStats(a) : null;
  for (const s of new Set([a, b])) s.stdin.write('quit\n');
  await Promise.all([...new Set([a, b])].map((s) => s.exited));
  const received = results.reduce((n, r) => n + r.received, 0);
  return {
    kind,
    clients,
    messages,
    received,
    expected: clients * messages,
    seconds,
    deliveries_per_second: received / seconds,
    bus,
    redis_bytes_per_publish: kind === 'cross' ? (after.inputBytes - before.inputBytes) / messages : 0,
    redis_commands_per_publish: kind === 'cross' ? (after.commands - before.commands) / messages : 0,
  };
}


const loadgen = buildLoadgen();
const runs = [];
console.log(`# cross-instance fan-out, ${reps} reps, ${cpus().length} cores, node ${process.version}, ${redisUrl}`);
for (const scenario of scenarios) {
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of rep % 2 ? ['cross', 'single'] : ['single', 'cross']) {
      const run = await runOnce(loadgen, kind, scenario);
      runs.push({ rep, ...run });
      const lost = run.expected - run.received;
      console.error(`  ${scenario.clients}×${scenario.messages} ${kind} rep ${rep + 1}: ${Math.round(run.deliveries_per_second)}/s${lost ? ` LOST ${lost}` : ''}`);
    }
  }
}

console.log('\n| scenario | single instance | two instances via Redis | cross / single | Redis round trips per publish | bytes to Redis per publish | lost |');
console.log('|---|---|---|---|---|---|---|');
for (const { clients, messages } of scenarios) {
  const of = (kind) => runs.filter((r) => r.kind === kind && r.clients === clients && r.messages === messages);
  const single = median(of('single').map((r) => r.deliveries_per_second));
  const cross = median(of('cross').map((r) => r.deliveries_per_second));
  const trips = median(of('cross').map((r) => r.bus.pipelines / r.bus.published));
  const bytes = median(of('cross').map((r) => r.redis_bytes_per_publish));
  const lost = [...of('single'), ...of('cross')].reduce((n, r) => n + r.expected - r.received, 0);
  console.log(
    `| ${clients} clients × ${messages} msgs | ${Math.round(single).toLocaleString('en')} /s | ${Math.round(cross).toLocaleString('en')} /s | ${(cross / single).toFixed(2)}× | ${trips.toFixed(3)} | ${Math.round(bytes)} | ${lost} |`,
  );
}
mkdirSync(join(here, 'results'), { recursive: true });
const file = join(here, 'results', `cross-instance-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ reps, node: process.version, cores: cpus().length, runs }, null, 2));
console.log(`\nraw runs: ${file}`);
