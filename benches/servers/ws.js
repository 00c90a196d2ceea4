// Benchmark server on the `ws` package, doing the same work as native.js: the same envelope
// built once per publish (as a Buffer, so `ws` does not re-encode it per socket), the same
// subscribe control frames, the same echo reply.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { TOPIC, commandLoop, echoReply } from './common.js';

const subscribers = new Set();
const envelope = (topic, event, data) =>
  `{"topic":${JSON.stringify(topic)},"event":${JSON.stringify(event)},"data":${JSON.stringify(data) ?? 'null'}}`;

const http = createServer((req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    const text = data.toString();
    if (!isBinary && text.startsWith('{"type"')) {
      const control = JSON.parse(text);
      if (control.type === 'subscribe' && control.topic === TOPIC) subscribers.add(ws);
      if (control.type === 'unsubscribe') subscribers.delete(ws);
      return;
    }
    const { id, data: reply } = echoReply(text);
    ws.send(envelope('__rpc', id, reply));
  });
  ws.on('close', () => subscribers.delete(ws));
});
http.listen(0, '127.0.0.1', () => {
  commandLoop({
    publish: (data) => {
      const frame = Buffer.from(envelope(TOPIC, 'created', data));
      for (const ws of subscribers) ws.send(frame, { binary: false });
    },
    quit: () => process.exit(0),
  });
  console.log('PORT', http.address().port);
});
