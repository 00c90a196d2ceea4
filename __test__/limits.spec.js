import { afterEach, describe, expect, it } from 'vitest';
import { connect, deferred, refusedStatus, start, waitFor } from './helpers.js';

let server;
afterEach(() => server?.close());

describe('limits', () => {
  it('maxPayloadLength: an oversized message closes with 1009 and a close frame', async () => {
    const closed = deferred();
    const received = [];
    server = await start({
      websocket: { maxPayloadLength: 1024 },
      hooks: {
        message: (ws, { data }) => received.push(data.byteLength),
        close: (ws, { code, message }) => closed.resolve({ code, reason: Buffer.from(message).toString() }),
      },
    });
    const client = await connect(server.wsUrl);
    client.send('x'.repeat(1024));
    client.send('x'.repeat(1025));
    expect(await client.closed).toEqual({ code: 1009, reason: 'Message too big' });
    expect(await closed.promise).toEqual({ code: 1009, reason: 'Message too big' });
    expect(received).toEqual([1024]);
  });

  it('maxPayloadLength defaults to 16 KiB', async () => {
    server = await start();
    const client = await connect(server.wsUrl);
    client.send('y'.repeat(16 * 1024 + 1));
    expect((await client.closed).code).toBe(1009);
  });

  it('idleTimeout: a client that never answers pings is closed', async () => {
    const closed = deferred();
    server = await start({
      websocket: { idleTimeout: 2 },
      hooks: { close: (ws, { code }) => closed.resolve(code) },
    });
    const pings = [];
    const silent = await connect(server.wsUrl, { autoPong: false });
    silent.on('ping', () => pings.push(Date.now()));
    const started = Date.now();
    expect(await closed.promise).toBe(1006);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(pings.length).toBeGreaterThanOrEqual(1);
  });

  it('idleTimeout: a client answering pings stays open', async () => {
    let closes = 0;
    server = await start({ websocket: { idleTimeout: 2 }, hooks: { close: () => closes++ } });
    const client = await connect(server.wsUrl);
    await new Promise((r) => setTimeout(r, 4500));
    expect(client.readyState).toBe(client.OPEN);
    expect(closes).toBe(0);
  });

  it('maxBackpressure: sends past the limit are dropped (2), then drain fires', async () => {
    const drained = deferred();
    let ws;
    server = await start({
      websocket: { maxBackpressure: 64 * 1024 },
      hooks: {
        open: (socket) => (ws = socket),
        drain: () => drained.resolve(),
      },
    });
    const client = await connect(server.wsUrl);
    client.pause(); // stop reading: the kernel buffers fill, then the outbox
    await waitFor(() => ws);
    const chunk = 'z'.repeat(16 * 1024);
    const statuses = [];
    for (let i = 0; i < 4000 && statuses.at(-1) !== 2; i++) {
      statuses.push(ws.send(chunk));
      if (i % 16 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(statuses.at(-1)).toBe(2);
    expect(statuses).toContain(0);
    // The writer keeps draining into the kernel, so only the bound is deterministic here;
    // the drop itself proves the queue was over the limit.
    expect(ws.getBufferedAmount()).toBeLessThanOrEqual(64 * 1024 + chunk.length);
    expect(server.connections).toBe(1);
    expect(server.stats().droppedMessages).toBe(1);
    client.resume();
    await drained.promise;
    // `drain` means "writable again", as in uWS: the rest may still be on its way out.
    await waitFor(() => ws.getBufferedAmount() === 0);
    expect(ws.send('after')).toBe(1);
  });

  it('closeOnBackpressureLimit closes a slow consumer with 1008', async () => {
    const closed = deferred();
    let ws;
    server = await start({
      websocket: { maxBackpressure: 64 * 1024, closeOnBackpressureLimit: true },
      hooks: { open: (s) => (ws = s), close: (s, { code }) => closed.resolve(code) },
    });
    const client = await connect(server.wsUrl);
    client.pause();
    await waitFor(() => ws);
    const chunk = 'z'.repeat(16 * 1024);
    for (let i = 0; i < 4000; i++) {
      if (ws.send(chunk) === 2) break;
      if (i % 16 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(await closed.promise).toBe(1008);
  });

  it('maxConnections: upgrades past the limit get 503', async () => {
    server = await start({ websocket: { maxConnections: 2 } });
    const a = await connect(server.wsUrl);
    await connect(server.wsUrl);
    expect(await refusedStatus(server.wsUrl)).toBe(503);
    a.terminate();
    await waitFor(() => server.connections === 1);
    const c = await connect(server.wsUrl);
    expect(c.readyState).toBe(c.OPEN);
  });

  it('upgradeTimeout: an upgrade hook that never answers gets 504', async () => {
    server = await start({
      websocket: { upgradeTimeout: 1 },
      hooks: { upgrade: () => new Promise(() => {}) },
    });
    const started = Date.now();
    expect(await refusedStatus(server.wsUrl)).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });
});
