#!/usr/bin/env node
// JavaScript threads on one server (issue 11): RPC calls/s and SSR requests/s with 1, 2 and
// 4 runners (the main thread plus worker threads), in the same run, rotating the order.
//
//   node benches/workers.js [--reps 3] [--seconds 5] [--pin]
//
// --pin: the load generator (and wrk) on CPU 1 alone, the server on CPU 0 alone (taskset),
// so the load generator has its own core; on a 2-core machine that leaves the server one.
//
// RPC: benches/servers/native-rpc.js with JS_WORKERS=N (the bench live module through
// svelte-realtime's `message` hook on every runner), driven by the Rust load generator with
// one thread: 50 connections x 10 calls in flight, 64 B.
// SSR: the demo's `node build` (examples/chat/build; built by `npm test`'s e2e suite or by
// `npm run build` in examples/chat) with CLUSTER_WORKERS=N, `wrk -t1 -c32` on `/` signed in,
// the chat page SvelteKit renders on the server (with the messages' SSR `.load`). Needs `wrk` (apt-get install wrk).
// CPU is the server process's utime+stime from /proc over the measured window.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TICKS_PER_SECOND, buildLoadgen, child, cpuTicks, median } from './lib/proc.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const reps = option('--reps', 3);
const seconds = option('--seconds', 5);
const COUNTS = [1, 2, 4];
const pin = args.includes('--pin');
/** `[command, argv]` under `taskset -c cpu` when pinning. */
const pinned = (cpu, command, argv) => (pin ? ['taskset', ['-c', String(cpu), command, ...argv]] : [command, argv]);

async function rpcRound(loadgen, count) {
  const server = child(...pinned(0, process.execPath, [join(here, 'servers', 'native-rpc.js')]), { env: { JS_WORKERS: String(count) }, stderr: 'pipe' });
  const port = (await server.line((l) => l.startsWith('PORT '))).split(' ')[1];
  const gen = child(...pinned(1, loadgen, ['rpc', `ws://127.0.0.1:${port}/ws`, '50', '10', String(seconds), '64']), { env: { LOADGEN_THREADS: '1' } });
  await gen.line((l) => l === 'READY');
  gen.stdin.write('go\n');
  await gen.line((l) => l === 'MEASURE');
  const cpu0 = cpuTicks(server.pid);
  const result = JSON.parse(await gen.line((l) => l.startsWith('{')));
  const cpu = (cpuTicks(server.pid) - cpu0) / TICKS_PER_SECOND;
  await gen.exited;
  server.stdin.write('quit\n');
  await server.exited;
  return { calls_per_second: result.calls_per_second, p99_ms: result.p99_ms, server_cores: cpu / result.seconds };
}

async function ssrRound(count) {
  const demo = join(root, 'examples', 'chat');
  const server = child(...pinned(0, process.execPath, ['build']), { env: { PORT: '0', HOST: '127.0.0.1', CLUSTER_WORKERS: String(count) }, cwd: demo, stderr: 'pipe' });
  const url = /Listening on (http:\/\/\S+)/.exec(await server.line((l) => l.includes('Listening on')))[1].replace('localhost', '127.0.0.1');
  const wrkArgs = ['-t1', '-c32', '-H', 'Cookie: name=bench'];
  spawnSync(...pinned(1, 'wrk', [...wrkArgs, '-d1s', `${url}/`])); // warm up
  const cpu0 = cpuTicks(server.pid);
  const t0 = Date.now();
  const out = spawnSync(...pinned(1, 'wrk', [...wrkArgs, `-d${seconds}s`, `${url}/`]), { encoding: 'utf8' }).stdout;
  const elapsed = (Date.now() - t0) / 1000;
  const cpu = (cpuTicks(server.pid) - cpu0) / TICKS_PER_SECOND;
  server.kill('SIGTERM');
  await server.exited;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0';
  return { requests_per_second: rps, non_2xx: Number(errors), server_cores: cpu / elapsed };
}


const loadgen = buildLoadgen();
const haveWrk = spawnSync('wrk', ['--version']).error === undefined;
const haveDemo = existsSync(join(root, 'examples', 'chat', 'build', 'index.js'));
const runs = [];
console.log(`# JavaScript threads, ${reps} reps, ${cpus().length} cores${pin ? ', pinned (server CPU 0, load CPU 1)' : ''}, node ${process.version}`);
for (let rep = 0; rep < reps; rep++) {
  const order = COUNTS.map((_, i) => COUNTS[(i + rep) % COUNTS.length]);
  for (const count of order) {
    const rpc = await rpcRound(loadgen, count);
    runs.push({ kind: 'rpc', count, rep, ...rpc });
    console.error(`  rpc ${count} runner(s) rep ${rep + 1}: ${Math.round(rpc.calls_per_second)} calls/s, ${rpc.server_cores.toFixed(2)} cores`);
    if (haveWrk && haveDemo) {
      const ssr = await ssrRound(count);
      runs.push({ kind: 'ssr', count, rep, ...ssr });
      console.error(`  ssr ${count} runner(s) rep ${rep + 1}: ${Math.round(ssr.requests_per_second)} req/s, ${ssr.server_cores.toFixed(2)} cores`);
    }
  }
}
if (!haveWrk || !haveDemo) console.log(`(SSR skipped: ${haveWrk ? '' : 'wrk missing; '}${haveDemo ? '' : 'examples/chat/build missing'})`);

console.log('\n| runners | RPC calls/s | vs 1 | RPC p99 | server cores (RPC) | SSR requests/s | vs 1 | server cores (SSR) |');
console.log('|---|---|---|---|---|---|---|---|');
const of = (kind, count) => runs.filter((r) => r.kind === kind && r.count === count);
const base = { rpc: median(of('rpc', 1).map((r) => r.calls_per_second)), ssr: median(of('ssr', 1).map((r) => r.requests_per_second)) };
for (const count of COUNTS) {
  const rpc = median(of('rpc', count).map((r) => r.calls_per_second));
  const p99 = median(of('rpc', count).map((r) => r.p99_ms));
  const rpcCores = median(of('rpc', count).map((r) => r.server_cores));
  const ssrRuns = of('ssr', count);
  const ssr = ssrRuns.length ? median(ssrRuns.map((r) => r.requests_per_second)) : NaN;
  const ssrCores = ssrRuns.length ? median(ssrRuns.map((r) => r.server_cores)) : NaN;
  console.log(
    `| ${count} | ${Math.round(rpc).toLocaleString('en')} | ${(rpc / base.rpc).toFixed(2)}× | ${p99.toFixed(2)} ms | ${rpcCores.toFixed(2)} | ${Number.isNaN(ssr) ? '-' : Math.round(ssr).toLocaleString('en')} | ${Number.isNaN(ssr) ? '-' : (ssr / base.ssr).toFixed(2) + '×'} | ${Number.isNaN(ssrCores) ? '-' : ssrCores.toFixed(2)} |`,
  );
}
mkdirSync(join(here, 'results'), { recursive: true });
const file = join(here, 'results', `workers-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ reps, seconds, pin, node: process.version, cores: cpus().length, runs }, null, 2));
console.log(`\nraw runs: ${file}`);
