#!/usr/bin/env node
// RPC dispatch overhead, in process: what svelte-realtime/server adds around a live
// function (detect, decode, parse, look up, ctx, execute, build the response) compared with
// calling the function directly, plus how fast non-RPC messages are turned away.
//
//   node benches/rpc.js
//
// Mock ws/platform objects (no network), median of 7 runs of 100,000 calls each, at most
// 256 answers outstanding at a time.

import { handleRpc, live, Registry } from '../lib/server/index.js';

const RUNS = 7;
const CALLS = 102_400;

const registry = new Registry();
const add = live((ctx, a, b) => a + b);
const stream = live.stream('items', () => [{ id: 1 }, { id: 2 }]);
registry.registerModule('bench', { add, stream });

let answered = 0;
const ws = { getUserData: () => ({ id: 'u' }), subscribe: () => true, getBufferedAmount: () => 0 };
const platform = { send: () => (answered++, 1), publish: () => true };
const options = { registry };
const encode = (s) => new TextEncoder().encode(s).buffer;
const callFrame = encode('{"rpc":"bench/add","id":"a1","args":[1,2]}');
const streamFrame = encode('{"rpc":"bench/stream","id":"a2","args":[],"stream":true}');
const notRpc = encode('{"type":"custom","payload":"something else entirely"}');

async function time(fn) {
  const samples = [];
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / CALLS);
  }
  samples.sort((a, b) => a - b);
  return samples[RUNS >> 1];
}

async function drain(target) {
  while (answered < target) await new Promise((r) => setImmediate(r));
}

/** Sends `frame` CALLS times, at most WINDOW answers outstanding (like many live clients). */
const WINDOW = 256;
async function pump(frame) {
  for (let sent = 0; sent < CALLS; sent += WINDOW) {
    const target = answered + WINDOW;
    for (let i = 0; i < WINDOW; i++) handleRpc(ws, frame, platform, options);
    await drain(target);
  }
}

const ctx = { user: { id: 'u' } };
const direct = await time(async () => {
  for (let i = 0; i < CALLS; i++) await add(ctx, 1, 2);
});
const viaRpc = await time(() => pump(callFrame));
const viaStream = await time(() => pump(streamFrame));
const rejected = await time(async () => {
  for (let i = 0; i < CALLS; i++) handleRpc(ws, notRpc, platform, options);
});

console.log(`# RPC dispatch, node ${process.version}, median of ${RUNS} runs × ${CALLS.toLocaleString('en')} calls\n`);
console.log('| what | ns per call |');
console.log('|---|---:|');
console.log(`| direct \`await fn(ctx, 1, 2)\` | ${direct.toFixed(0)} |`);
console.log(`| \`handleRpc\` call (parse, dispatch, respond) | ${viaRpc.toFixed(0)} |`);
console.log(`| overhead added by the RPC layer | ${(viaRpc - direct).toFixed(0)} |`);
console.log(`| \`handleRpc\` stream subscribe | ${viaStream.toFixed(0)} |`);
console.log(`| non-RPC message turned away | ${rejected.toFixed(0)} |`);
