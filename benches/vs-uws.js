#!/usr/bin/env node
// Side by side with the stack svelte-realtime replaces: the same live() module through the
// same `message` hook (servers/live-module.js) on our native runtime (servers/native-rpc.js)
// and on uWebSockets.js v20 with an svelte-adapter-uws-shaped runtime (servers/uws.js),
// driven by one Rust load generator (crates/realtime-loadgen) in its own process, rounds in
// ABBA order, medians and ratios of the same run.
//
//   node benches/vs-uws.js [--rounds 3] [--only rpc,fanout,memory] [--noise] [--no-perf]
//                          [--base <checkout>]   (ours against another build of ours, e.g. a
//                                                 `git worktree` of the previous commit)
//                          [--rpc-arg '<json>']  (the echoed argument; default a 64-byte string)
//
// Scenarios:
//   rpc     50 clients × 10 calls in flight, 64 B argument, 5 s measured after 1 s warm-up:
//           calls/s, p50/p99, server CPU per call (utime+stime from /proc), write syscalls
//           and context switches per reply (perf stat tracepoints, when perf works).
//   fanout  1000 subscribers × 1000 events × 100 B: deliveries/s, CPU per delivery (the
//           server's, and the load generator's, which bounds any server on a shared machine);
//           nothing may be lost. Each round also runs benches/kernel-floor.c's fanout mode
//           (built with cc): the kernel's own CPU for the same writes, no server around them.
//   memory  5000 idle WebSockets: server RSS growth per connection, from a baseline taken after
//           200 sockets were opened and closed (and, `_cold`, from the fresh server).
// --noise runs native against native, to show what the machine's noise alone gives.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TICKS_PER_SECOND, buildLoadgen, child, cpuSeconds, cpuTicks, median } from './lib/proc.js';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const value = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const rounds = Number(value('--rounds', 3));
const only = value('--only', 'rpc,fanout,memory').split(',');
const base = value('--base', null);
const kinds = flag('--noise')
  ? ['native-rpc', 'native-rpc']
  : base
    ? ['native-rpc', join(base, 'benches', 'servers', 'native-rpc.js')]
    : ['native-rpc', 'uws'];
const label = (kind, i) =>
  flag('--noise') ? `native ${i === 0 ? 'A' : 'B'}` : kind === 'uws' ? 'uWS' : i === 1 && base ? 'base' : 'native';

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

const perfWorks = !flag('--no-perf') && spawnSync('perf', ['stat', '-e', 'syscalls:sys_enter_writev', 'true'], { stdio: 'ignore' }).status === 0;
const PERF_EVENTS = [
  'syscalls:sys_enter_sendto', 'syscalls:sys_enter_sendmsg', 'syscalls:sys_enter_write', 'syscalls:sys_enter_writev',
  'syscalls:sys_enter_recvfrom', 'syscalls:sys_enter_read', 'syscalls:sys_enter_epoll_wait', 'syscalls:sys_enter_futex',
  'context-switches',
];

/** Counts syscalls and context switches of `pid` for `seconds` (all threads). */
function perfStat(pid, seconds) {
  if (!perfWorks) return Promise.resolve(null);
  return new Promise((resolve) => {
    const proc = spawn('perf', ['stat', '-x', ',', '-e', PERF_EVENTS.join(','), '-p', String(pid), '--', 'sleep', String(seconds)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let out = '';
    proc.stderr.on('data', (d) => (out += d));
    proc.on('exit', () => {
      const counts = {};
      for (const line of out.split('\n')) {
        const [count, , event] = line.split(',');
        if (event) counts[event.replace('syscalls:sys_enter_', '')] = Number(count) || 0;
      }
      resolve(counts);
    });
  });
}

async function startServer(kind) {
  const script = kind.endsWith('.js') ? kind : join(here, 'servers', `${kind}.js`);
  const server = child(process.execPath, [script]);
  const port = (await server.line((l) => l.startsWith('PORT '))).split(' ')[1];
  return { server, url: `ws://127.0.0.1:${port}/ws` };
}

async function stopServer(server) {
  server.stdin.write('quit\n');
  await server.exited;
}

const MEASURE_SECONDS = 5;
/** `--rpc-arg <json>`: the echoed argument instead of a 64-byte string (e.g. an object). */
const RPC_ARG = value('--rpc-arg', null);

async function rpcRound(loadgen, kind) {
  const { server, url } = await startServer(kind);
  const env = { LOADGEN_THREADS: '1', ...(RPC_ARG === null ? {} : { LOADGEN_RPC_ARG: RPC_ARG }) };
  const gen = child(loadgen, ['rpc', url, '50', '10', String(MEASURE_SECONDS), '64'], { env });
  await gen.line((l) => l === 'READY');
  gen.stdin.write('go\n');
  await gen.line((l) => l === 'MEASURE');
  const cpu0 = cpuSeconds(server.pid);
  const gen0 = cpuTicks(gen.pid); // ticks: its threads may end before the last read
  const perf = perfStat(server.pid, MEASURE_SECONDS - 0.5);
  const result = JSON.parse(await gen.line((l) => l.startsWith('{')));
  const cpu = cpuSeconds(server.pid) - cpu0;
  const genCpu = (cpuTicks(gen.pid) - gen0) / TICKS_PER_SECOND;
  const counts = await perf;
  await gen.exited;
  await stopServer(server);
  const perSecond = result.calls_per_second;
  const writes = counts ? (counts.sendto + counts.sendmsg + counts.write + counts.writev) : null;
  return {
    calls_per_second: perSecond,
    p50_ms: result.p50_ms,
    p99_ms: result.p99_ms,
    cpu_us_per_call: (cpu / result.calls) * 1e6,
    // perf ran for MEASURE_SECONDS - 0.5 s of the window: scale by the calls in that time.
    writes_per_reply: writes === null ? null : writes / (perSecond * (MEASURE_SECONDS - 0.5)),
    // Of those: socket writes (writev/sendto/sendmsg) and plain `write`s (wake descriptors:
    // eventfd, libuv's async handle).
    socket_writes_per_reply: counts ? (counts.sendto + counts.sendmsg + counts.writev) / (perSecond * (MEASURE_SECONDS - 0.5)) : null,
    wake_writes_per_reply: counts ? counts.write / (perSecond * (MEASURE_SECONDS - 0.5)) : null,
    switches_per_reply: counts ? counts['context-switches'] / (perSecond * (MEASURE_SECONDS - 0.5)) : null,
    reads_per_call: counts ? (counts.recvfrom + counts.read) / (perSecond * (MEASURE_SECONDS - 0.5)) : null,
    futex_per_call: counts ? counts.futex / (perSecond * (MEASURE_SECONDS - 0.5)) : null,
    epoll_waits_per_call: counts ? counts.epoll_wait / (perSecond * (MEASURE_SECONDS - 0.5)) : null,
    server_cores: cpu / result.seconds,
    loadgen_cores: genCpu / result.seconds,
  };
}

async function fanoutRound(loadgen, kind) {
  const { server, url } = await startServer(kind);
  const gen = child(loadgen, ['fanout', url, '1000', '1000', 'bench']);
  await gen.line((l) => l === 'READY');
  const cpu0 = cpuSeconds(server.pid);
  const gen0 = cpuTicks(gen.pid); // ticks: its threads may end before the last read
  server.stdin.write('publish 1000 100\n');
  const result = JSON.parse(await gen.line((l) => l.startsWith('{')));
  const cpu = cpuSeconds(server.pid) - cpu0;
  const genCpu = (cpuTicks(gen.pid) - gen0) / TICKS_PER_SECOND;
  await gen.exited;
  await stopServer(server);
  return {
    deliveries_per_second: result.deliveries_per_second,
    cpu_us_per_delivery: (cpu / result.received) * 1e6,
    // The load generator's own CPU per delivery: it shares the 2 cores, so it bounds what
    // any server can reach here (2 cores / (server + load generator CPU per delivery)).
    loadgen_cpu_us_per_delivery: (genCpu / result.received) * 1e6,
    lost: result.expected - result.received,
  };
}

// The kernel's own cost of the fan-out's writes (benches/kernel-floor.c, built with the
// machine's cc): the same sockets, frames and 100 frames per write, no server around them.
// Run once per fan-out round, so the floor is measured under the same conditions.
const floorBinary = (() => {
  if (!only.includes('fanout')) return null;
  const out = join(tmpdir(), `kernel-floor-${process.pid}`);
  const cc = spawnSync('cc', ['-O2', '-pthread', join(here, 'kernel-floor.c'), '-o', out], { stdio: 'inherit' });
  return cc.status === 0 ? out : null;
})();

function floorRound() {
  const run = spawnSync(floorBinary, ['fanout', '1000', '1000', '100', '165', '1'], { encoding: 'utf8' });
  const m = /writer ([\d.]+) us, reader ([\d.]+) us/.exec(run.stdout ?? '');
  return m ? { writer_us_per_delivery: Number(m[1]), reader_us_per_delivery: Number(m[2]) } : null;
}

/** Connects `clients` idle sockets; resolves with the load generator once they are open. */
async function openIdle(loadgen, url, clients) {
  const gen = child(loadgen, ['idle', url, String(clients)]);
  await gen.line((l) => l === 'READY');
  return gen;
}

async function memoryRound(loadgen, kind) {
  const clients = 5000;
  const { server, url } = await startServer(kind);
  await new Promise((r) => setTimeout(r, 500));
  const cold = rssKiB(server.pid);
  // Warm-up: 200 sockets opened and closed, so the baseline already holds what any first
  // connection costs once (code paged in, allocator and JS heap set up) on both servers.
  const warmup = await openIdle(loadgen, url, 200);
  warmup.stdin.end();
  await warmup.exited;
  await new Promise((r) => setTimeout(r, 1000));
  const warm = rssKiB(server.pid);
  const gen = await openIdle(loadgen, url, clients);
  await new Promise((r) => setTimeout(r, 1000));
  const after = rssKiB(server.pid);
  gen.stdin.end();
  await gen.exited;
  await stopServer(server);
  return { kib_per_connection: (after - warm) / clients, kib_per_connection_cold: (after - cold) / clients };
}

const SCENARIOS = {
  rpc: { run: rpcRound, title: 'RPC 50 × 10 in flight, 64 B, through handleRpc', metrics: ['calls_per_second', 'cpu_us_per_call', 'p50_ms', 'p99_ms', 'writes_per_reply', 'socket_writes_per_reply', 'wake_writes_per_reply', 'switches_per_reply', 'reads_per_call', 'futex_per_call', 'epoll_waits_per_call', 'server_cores', 'loadgen_cores'] },
  fanout: { run: fanoutRound, title: 'fan-out 1000 subscribers × 1000 events × 100 B', metrics: ['deliveries_per_second', 'cpu_us_per_delivery', 'loadgen_cpu_us_per_delivery', 'lost'] },
  memory: { run: memoryRound, title: '5000 idle WebSockets', metrics: ['kib_per_connection', 'kib_per_connection_cold'] },
};

const loadgen = buildLoadgen();
const results = {};
const floor = [];
// Ratios move with the machine (its kernel's cost per syscall weighs on both servers alike):
// the CPU model and kernel go with every result.
const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', kernel: release() };
console.log(`# vs uWebSockets.js: ${rounds} ABBA rounds, ${machine.cores} cores (${machine.cpu}, Linux ${machine.kernel}), node ${process.version}${perfWorks ? '' : ', no perf'}`);
for (const name of only) {
  const scenario = SCENARIOS[name];
  results[name] = kinds.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [1, 0] : [0, 1];
    for (const i of order) {
      const r = await scenario.run(loadgen, kinds[i]);
      results[name][i].push(r);
      console.error(`  ${name} · ${label(kinds[i], i)} · round ${round + 1}: ${JSON.stringify(r, (k, v) => (typeof v === 'number' ? Number(v.toPrecision(4)) : v))}`);
    }
    if (name === 'fanout' && floorBinary) {
      const f = floorRound();
      if (f) floor.push(f);
      console.error(`  fanout · kernel floor · round ${round + 1}: ${JSON.stringify(f)}`);
    }
  }
}

const fmt = (v) => (v === null ? 'n/a' : v >= 100 ? Math.round(v).toLocaleString('en') : v.toFixed(v >= 10 ? 1 : 3));
for (const name of only) {
  const scenario = SCENARIOS[name];
  const [a, b] = [label(kinds[0], 0), label(kinds[1], 1)];
  console.log(`\n### ${scenario.title}\n`);
  console.log(`| metric | ${a} (median) | ${b} (median) | ${a} / ${b} |`);
  console.log('|---|---|---|---|');
  for (const metric of scenario.metrics) {
    const ma = median(results[name][0].map((r) => r[metric]));
    const mb = median(results[name][1].map((r) => r[metric]));
    const ratio = ma !== null && mb ? `${(ma / mb).toFixed(2)}×` : 'n/a';
    console.log(`| ${metric} | ${fmt(ma)} | ${fmt(mb)} | ${ratio} |`);
  }
  if (name === 'fanout' && floor.length) {
    const writer = median(floor.map((f) => f.writer_us_per_delivery));
    const reader = median(floor.map((f) => f.reader_us_per_delivery));
    const cpu = [0, 1].map((i) => median(results[name][i].map((r) => r.cpu_us_per_delivery)));
    console.log(`\nkernel floor (kernel-floor.c fanout, same shape, median of ${floor.length}): writer ${writer.toFixed(3)} µs, ` +
      `reader ${reader.toFixed(3)} µs per delivery; CPU per delivery / floor: ${a} ${(cpu[0] / writer).toFixed(2)}×, ` +
      `${b} ${(cpu[1] / writer).toFixed(2)}×; floor / ${b}: ${(writer / cpu[1]).toFixed(2)}×`);
  }
}
mkdirSync(join(here, 'results'), { recursive: true });
const file = join(here, 'results', `vs-uws-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ rounds, kinds, node: process.version, cores: machine.cores, machine, rpcArg: RPC_ARG, results, floor }, null, 2));
if (floorBinary) rmSync(floorBinary, { force: true });
console.log(`\nraw rounds: ${file}`);
