// A minimal server that answers exactly as reference-protocol §3.1 and §4 describe the
// reference (svelte-adapter-uws 0.2.25 + svelte-realtime 0.1.4), written from the spec text
// only: open subscriptions, `esc()` envelopes, §4.1 detection, §4.5 stream replies, §4.6
// batches (including the `""` id of an oversized batch), §4.7 binary frames. It lets the
// browser client be checked against the reference's behaviour, not ours.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

function esc(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) throw new Error('invalid topic or event');
  }
  return `"${s}"`;
}
const envelope = (topic, event, data) =>
  `{"topic":${esc(topic)},"event":${esc(event)},"data":${JSON.stringify(data)}}`;

/**
 * @param {Record<string, { call?: Function, stream?: { topic: string, init: Function, merge?: string, key?: string, prepend?: boolean }, binary?: Function }>} table
 */
export async function startReferenceServer(table) {
  const sockets = new Set();
  const frames = [];
  const http = createServer((req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http, path: '/ws' });

  const send = (ws, topic, event, data) => ws.readyState === 1 && ws.send(envelope(topic, event, data));
  const publish = (topic, event, data) => {
    for (const ws of sockets) if (ws.topics.has(topic)) send(ws, topic, event, data);
  };

  async function runOne(ws, msg) {
    const entry = table[msg.rpc];
    if (!/^[a-zA-Z0-9_]+(?:\/[a-zA-Z0-9_]+)+$/.test(msg.rpc)) return { ok: false, code: 'INVALID_REQUEST', error: 'Invalid path' };
    if (msg.args !== undefined && !Array.isArray(msg.args)) return { ok: false, code: 'INVALID_REQUEST', error: 'args must be an array' };
    if (!entry) return { ok: false, code: 'NOT_FOUND', error: 'Not found' };
    if (entry.payload) return entry.payload; // a canned answer, odd ones included
    const ctx = { publish, cursor: msg.cursor ?? null };
    try {
      if (msg.stream && entry.stream) {
        const { topic, init, merge = 'crud', key = 'id', prepend } = entry.stream;
        ws.topics.add(topic); // subscribe before init (§4.5 step 4)
        const data = await init(ctx, ...(msg.args ?? []));
        return { ok: true, data, topic, merge, key, prepend };
      }
      if (entry.stream) return { ok: true, data: await entry.stream.init(ctx, ...(msg.args ?? [])) };
      return { ok: true, data: await entry.call(ctx, ...(msg.args ?? [])) };
    } catch (error) {
      if (error.code) return { ok: false, code: error.code, error: error.message, ...(error.issues ? { issues: error.issues } : {}) };
      return { ok: false, code: 'INTERNAL_ERROR', error: 'Internal server error' };
    }
  }

  wss.on('connection', (ws) => {
    ws.topics = new Set();
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('message', async (buf, isBinary) => {
      const bytes = new Uint8Array(buf);
      frames.push(isBinary ? '<binary>' : buf.toString());
      // §3.1 control frames.
      if (!isBinary && bytes.length < 512 && bytes[3] === 0x79) {
        try {
          const control = JSON.parse(buf.toString());
          if (control.type === 'subscribe' && typeof control.topic === 'string') return void ws.topics.add(control.topic);
          if (control.type === 'unsubscribe' && typeof control.topic === 'string') return void ws.topics.delete(control.topic);
        } catch {}
      }
      if (bytes.length < 4) return;
      // §4.1 step 2: binary frames.
      if (bytes[0] === 0x00) {
        const headerLen = (bytes[1] << 8) | bytes[2];
        if (headerLen === 0 || 3 + headerLen > bytes.length) return;
        const header = JSON.parse(Buffer.from(bytes.subarray(3, 3 + headerLen)).toString());
        const payload = bytes.slice(3 + headerLen).buffer;
        const entry = table[header.rpc];
        const data = entry?.binary
          ? { ok: true, data: await entry.binary({ publish }, payload, ...(header.args ?? [])) }
          : { ok: false, code: 'INVALID_REQUEST', error: 'Not a binary endpoint' };
        return void send(ws, '__rpc', header.id, data);
      }
      // §4.1 step 3: text detection.
      if (bytes.length < 10 || bytes[0] !== 0x7b || (bytes[2] !== 0x72 && bytes[2] !== 0x62)) return;
      let msg;
      try {
        msg = JSON.parse(buf.toString());
      } catch {
        return;
      }
      if (Array.isArray(msg.batch)) {
        if (msg.batch.length > 50) {
          return void send(ws, '__rpc', '__batch', {
            batch: [{ id: '', ok: false, code: 'INVALID_REQUEST', error: 'Batch exceeds maximum of 50 calls' }],
          });
        }
        const results = [];
        if (msg.sequential) for (const e of msg.batch) results.push({ id: e.id, ...(await runOne(ws, e)) });
        else results.push(...(await Promise.all(msg.batch.map(async (e) => ({ id: e.id, ...(await runOne(ws, e)) })))));
        return void send(ws, '__rpc', '__batch', { batch: results });
      }
      if (typeof msg.rpc !== 'string' || typeof msg.id !== 'string') return;
      send(ws, '__rpc', msg.id, await runOne(ws, msg));
    });
  });

  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  const port = http.address().port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    frames,
    sockets,
    publish,
    close: () =>
      new Promise((r) => {
        for (const ws of sockets) ws.terminate();
        wss.close();
        http.close(r);
      }),
  };
}
