// Echo endpoint for Autobahn|Testsuite (benches/conformance/autobahn.sh): the production
// accept path (same config, origin check, limits) with limits raised for the 9.* cases.
import { serve } from '../../lib/runtime/index.js';

const server = await serve({
  host: '127.0.0.1',
  port: Number(process.env.PORT ?? 9001),
  signals: true,
  engine: process.env.ENGINE ?? 'auto', // autobahn.sh runs the cases on each engine
  websocket: {
    maxPayloadLength: 64 * 1024 * 1024,
    maxBackpressure: 256 * 1024 * 1024,
    idleTimeout: 0,
  },
  hooks: {
    message(ws, { data, isBinary }) {
      ws.send(data, isBinary);
    },
  },
});
console.log('PORT', server.port);
