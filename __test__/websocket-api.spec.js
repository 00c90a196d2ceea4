import { afterEach, describe, expect, it } from 'vitest';
import { connect, deferred, start, waitFor } from './helpers.js';

let server;
afterEach(() => server?.close());

async function oneSocket(extra = {}) {
  let ws;
  const closed = deferred();
  server = await start({
    hooks: {
      open: (s) => (ws = s),
      close: (s, { code, message }) => closed.resolve({ code, reason: Buffer.from(message).toString() }),
      ...extra,
    },
  });
  const client = await connect(server.wsUrl);
  await waitFor(() => ws);
  return { ws, client, closed: closed.promise };
}

describe('the ws object', () => {
  it('sends text and binary, from strings and buffers', async () => {
    const { ws, client } = await oneSocket();
    expect(ws.send('text')).toBe(1);
    expect(ws.send(new TextEncoder().encode('from bytes'))).toBe(1);
    expect(ws.send(new Uint8Array([1, 2, 3]).buffer, true)).toBe(1);
    expect(await client.next()).toBe('text');
    expect(await client.next()).toBe('from bytes');
    expect([...(await client.next())]).toEqual([1, 2, 3]);
  });

  it('delivers messages with ArrayBuffer data and isBinary', async () => {
    const got = [];
    const { client } = await oneSocket({
      message: (ws, { data, isBinary }) => got.push([data instanceof ArrayBuffer, isBinary, [...new Uint8Array(data)]]),
    });
    client.send('hi');
    client.send(Buffer.from([0, 1, 2]));
    await waitFor(() => got.length === 2);
    expect(got).toEqual([
      [true, false, [104, 105]],
      [true, true, [0, 1, 2]],
    ]);
  });

  it('tracks topics', async () => {
    const { ws } = await oneSocket();
    expect(ws.subscribe('a')).toBe(true);
    expect(ws.subscribe('a')).toBe(false);
    ws.subscribe('b');
    expect(ws.getTopics().sort()).toEqual(['a', 'b']);
    expect(ws.isSubscribed('a')).toBe(true);
    expect(ws.unsubscribe('a')).toBe(true);
    expect(ws.isSubscribed('a')).toBe(false);
    expect(server.platform.subscribers('b')).toBe(1);
    expect(() => ws.subscribe(1)).toThrow(TypeError);
  });

  it('end(code, reason) closes with a close frame the close hook sees', async () => {
    const { ws, client, closed } = await oneSocket();
    ws.end(4000, 'kicked');
    expect(await client.closed).toEqual({ code: 4000, reason: 'kicked' });
    expect(await closed).toEqual({ code: 4000, reason: 'kicked' });
    expect(ws.send('late')).toBe(2);
    expect(ws.getTopics()).toEqual([]);
  });

  it('end rejects invalid close codes', async () => {
    const { ws } = await oneSocket();
    expect(() => ws.end(1005)).toThrow(RangeError);
    expect(() => ws.end(999)).toThrow(RangeError);
  });

  it('close() drops the socket at once; the hook sees 1006', async () => {
    const { ws, client, closed } = await oneSocket();
    ws.close();
    expect((await client.closed).code).toBe(1006);
    expect((await closed).code).toBe(1006);
  });

  it('a client close code reaches the close hook', async () => {
    const { client, closed } = await oneSocket();
    client.close(4100, 'bye');
    expect(await closed).toEqual({ code: 4100, reason: 'bye' });
  });

  it('exposes the remote address, buffered amount and cork', async () => {
    const { ws } = await oneSocket();
    expect(Buffer.from(ws.getRemoteAddressAsText()).toString()).toBe('127.0.0.1');
    expect(ws.getBufferedAmount()).toBe(0);
    let ran = false;
    expect(ws.cork(() => (ran = true))).toBe(ws);
    expect(ran).toBe(true);
  });

  it('a throwing hook is logged and the server keeps going', async () => {
    const { client } = await oneSocket({
      message: (ws, { data }) => {
        const text = Buffer.from(data).toString();
        if (text === 'boom') throw new Error('hook exploded');
        ws.send(`echo ${text}`);
      },
    });
    client.send('boom');
    client.send('fine');
    expect(await client.next()).toBe('echo fine');
    expect(server.log.lines.some((l) => l.text.includes('hook exploded'))).toBe(true);
  });
});

describe('close reasons', () => {
  it('a reason longer than a close frame allows is cut to 123 bytes', async () => {
    let ws;
    server = await start({ hooks: { open: (s) => (ws = s) } });
    const client = await connect(server.wsUrl);
    await waitFor(() => ws);
    ws.end(4000, 'é'.repeat(100));
    const { code, reason } = await client.closed;
    expect(code).toBe(4000);
    expect(Buffer.byteLength(reason)).toBe(122);
  });
});
