// The JavaScript side of a plain RPC, in process, without sockets or the addon: the
// runtime's raw call entry (`message[RAW_CALL]`, what dispatch calls for a recognized call),
// the call, the batched reply written into the outbound buffer. A stand-in native object
// takes the reply batches. Its figure is JS time per call; with `--base <checkout>` the two
// builds run alternately in one process (separate module instances), and the median of the
// per-round ratios is printed, which this noisy machine needs for changes of a few percent.
//
//   node benches/rpc-js.js                            # ns per call, this checkout
//   node benches/rpc-js.js --base /tmp/base           # this checkout / base, 21 paired rounds
//   node benches/rpc-js.js --arg-json '{"id":1,"tags":["a"]}'   # another argument (echoed)

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const argv = process.argv.slice(2);
const value = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const ROUNDS = Number(value('--rounds', 21));
const CALLS = 100_000;
const ARG_JSON = value('--arg-json', JSON.stringify('x'.repeat(62)));

async function setup(root) {
  const lib = (path) => import(pathToFileURL(resolve(root, 'lib', path)).href);
  const { createMessage, RAW_CALL } = await lib('server/rpc.js');
  const { live, registerModule } = await lib('server/index.js');
  const { createOutbound } = await lib('runtime/outbound.js');
  const { createPlatform } = await lib('runtime/platform.js');
  const { ServerWebSocket } = await lib('runtime/websocket.js');
  registerModule('bench', { echo: live((ctx, x) => x) });
  let bytes = 0;
  const native = { sendBatch: (batch) => (bytes += batch.length), holdWakes() {}, releaseWakes() {}, send: () => 0 };
  const outbound = createOutbound(() => native);
  const connections = new Map();
  const platform = createPlatform(() => native, connections, outbound);
  const sockets = [];
  for (let id = 1; id <= 50; id++) {
    const ws = new ServerWebSocket(native, id, {}, '127.0.0.1', { native, outbound });
    connections.set(id, ws);
    sockets.push(ws);
  }
  // The load generator's frames: 50 sockets, fresh ids, the runtime's path/id length code.
  const frames = Array.from({ length: 500 }, (_, i) => {
    const id = `c${i % 50}-${i}`;
    const buf = Buffer.from(`{"rpc":"bench/echo","id":"${id}","args":[${ARG_JSON}]}`);
    return { buf, lengths: 'bench/echo'.length | (id.length << 8), ws: sockets[i % 50] };
  });
  const call = createMessage()[RAW_CALL];
  const run = async (n) => {
    for (let i = 0; i < n; i++) {
      const f = frames[i % 500];
      call(f.ws, f.buf, 0, f.buf.length, f.lengths, false, platform);
      // A dispatch batch of 250 calls, then the turn ends (the reply batch is handed over).
      if (i % 250 === 249) await null;
    }
    await null;
  };
  return { run, bytes: () => bytes };
}

async function nsPerCall(build) {
  const t = process.hrtime.bigint();
  await build.run(CALLS);
  return Number(process.hrtime.bigint() - t) / CALLS;
}

const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
const ours = await setup(resolve(import.meta.dirname, '..'));
const basePath = value('--base', null);
const base = basePath ? await setup(resolve(basePath)) : null;
for (let i = 0; i < 3; i++) {
  await ours.run(CALLS);
  await base?.run(CALLS);
}
const times = [];
const baseTimes = [];
const ratios = [];
for (let r = 0; r < ROUNDS; r++) {
  const t = await nsPerCall(ours);
  times.push(t);
  if (base) {
    const b = await nsPerCall(base);
    baseTimes.push(b);
    ratios.push(t / b);
  }
}
const bytesPerCall = (build) => (build.bytes() / (CALLS * (ROUNDS + 3))).toFixed(1);
if (!base) {
  console.log(`${median(times).toFixed(0)} ns per call (median of ${ROUNDS}), ${bytesPerCall(ours)} reply bytes per call`);
} else {
  console.log(
    `this ${median(times).toFixed(0)} ns, base ${median(baseTimes).toFixed(0)} ns per call; ` +
      `this / base ${median(ratios).toFixed(3)} (median of ${ROUNDS} paired rounds); ` +
      `reply bytes per call ${bytesPerCall(ours)} / ${bytesPerCall(base)}`,
  );
}
