// Shared by the two benchmark servers: the stdin command loop and the workload, so both
// servers do exactly the same work. Commands (one per line):
//   publish <count> <payloadBytes>   publish <count> envelopes on topic "bench", 100 per tick
//   stats                            print `STATS <json>` (bus counters, native only)
//   quit                             exit

import { createInterface } from 'node:readline';

export const TOPIC = 'bench';

/** Runs `publish(i, data)` `count` times, yielding to the event loop every 100. */
function publishMany(count, payloadBytes, publish) {
  const text = 'x'.repeat(payloadBytes);
  let i = 0;
  const chunk = () => {
    const end = Math.min(i + 100, count);
    for (; i < end; i++) publish({ seq: i, text });
    if (i < count) setImmediate(chunk);
    else console.log('PUBLISHED');
  };
  chunk();
}

export function commandLoop({ publish, quit, stats }) {
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const [command, a, b] = line.trim().split(/\s+/);
    if (command === 'publish') publishMany(Number(a), Number(b), publish);
    else if (command === 'stats') stats?.();
    else if (command === 'quit') quit();
  });
}

/** The RPC-shaped echo reply: `{"topic":"__rpc","event":id,"data":{"ok":true,"data":arg}}`. */
export function echoReply(text) {
  const msg = JSON.parse(text);
  return { id: msg.id, data: { ok: true, data: msg.args?.[0] } };
}
