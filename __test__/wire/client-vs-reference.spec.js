// The browser client against a server that behaves as the reference (reference-server.js).
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import * as client from '../../lib/client/index.js';
import { waitFor } from '../helpers.js';
import { startReferenceServer } from './reference-server.js';

globalThis.WebSocket = WebSocket;

let ref;
const stops = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) stop();
  client.__reset();
  await ref?.close();
});

function watch(store) {
  const values = [];
  stops.push(store.subscribe((v) => values.push(Array.isArray(v) ? v.slice() : v)));
  return values;
}

async function boot(table) {
  ref = await startReferenceServer(table);
  client.__reset();
  client.configure({ url: ref.url, reconnectInterval: 50, maxReconnectInterval: 100 });
}

describe('client against a reference-behaving server', () => {
  it('calls, errors with issues, and the exact request bytes', async () => {
    const err = Object.assign(new Error('Validation failed'), { code: 'VALIDATION', issues: [{ path: ['text'], message: 'Required' }] });
    await boot({
      'chat/send': { call: (ctx, text) => ({ text }) },
      'chat/bad': { call: () => { throw err; } },
    });
    expect(await client.__rpc('chat/send')('hi')).toEqual({ text: 'hi' });
    const failure = await client.__rpc('chat/bad')().catch((e) => e);
    expect([failure.code, failure.message, failure.issues]).toEqual(['VALIDATION', 'Validation failed', err.issues]);
    expect(ref.frames[0]).toMatch(/^\{"rpc":"chat\/send","id":"[0-9a-z]+","args":\["hi"\]\}$/);
  });

  it('streams: data, live events after the response, unsubscribe on release', async () => {
    const rows = [{ id: 1 }];
    await boot({ 'chat/messages': { stream: { topic: 'messages', init: () => rows.slice() } } });
    const values = watch(client.__stream('chat/messages'));
    await waitFor(() => Array.isArray(values.at(-1)));
    ref.publish('messages', 'created', { id: 2 });
    await waitFor(() => values.at(-1).length === 2);
    stops.pop()();
    await waitFor(() => ref.frames.includes('{"type":"unsubscribe","topic":"messages"}'));
  });

  it('batches and binary frames', async () => {
    await boot({
      'b/one': { call: () => 1 },
      'b/two': { call: () => 2 },
      'up/load': { binary: (ctx, buf, name) => `${name}:${buf.byteLength}` },
    });
    const [one, two] = [client.__rpc('b/one'), client.__rpc('b/two')];
    expect(await client.batch(() => [one(), two()])).toEqual([1, 2]);
    expect(await client.__binary('up/load')(new Uint8Array(3), 'f')).toBe('f:3');
  });

  it('reconnects and refetches a stream after the server drops it', async () => {
    let version = 1;
    await boot({ 'c/state': { stream: { topic: 'state', merge: 'set', init: () => ({ version }) } } });
    const values = watch(client.__stream('c/state', { merge: 'set' }));
    await waitFor(() => values.at(-1)?.version === 1);
    version = 2;
    for (const ws of ref.sockets) ws.terminate();
    await waitFor(() => values.at(-1)?.version === 2, 3000);
    expect(values.filter((v) => v === undefined)).toHaveLength(1); // only the initial loading state
  });
});

describe('client error codes for odd server answers', () => {
  it('UNKNOWN for an error without code; STREAM_ERROR for an unusable stream reply; LOAD_MORE_ERROR', async () => {
    await boot({
      'x/odd': { payload: { ok: false } },
      'x/bogus': { payload: { ok: true, data: [], topic: 'b', merge: 'bogus' } },
      'x/feed': { stream: { topic: 'feed', init: () => [] } },
    });
    const error = await client.__rpc('x/odd')().catch((e) => e);
    expect([error.code, error.message]).toEqual(['UNKNOWN', 'Unknown error']);
    const bogus = [];
    stops.push(client.__stream('x/bogus').subscribe((v) => bogus.push(v)));
    await waitFor(() => bogus.at(-1)?.error);
    expect(bogus.at(-1).error.code).toBe('STREAM_ERROR');
    const feed = client.__stream('x/feed');
    stops.push(feed.subscribe(() => {}));
    await waitFor(() => ref.frames.length >= 3);
    feed.hydrate({ data: [], hasMore: true, cursor: 1 });
    const more = await feed.loadMore(10n).catch((e) => e);
    expect(more.code).toBe('LOAD_MORE_ERROR');
  });

  it('maxReconnectAttempts stops retrying with status closed', async () => {
    await boot({ 'a/b': { call: () => 1 } });
    client.configure({ maxReconnectAttempts: 2, reconnectInterval: 10, maxReconnectInterval: 20 });
    const seen = [];
    stops.push(client.status.subscribe((s) => seen.push(s)));
    await client.__rpc('a/b')();
    await ref.close();
    ref = null;
    await waitFor(() => seen.filter((s) => s === 'connecting').length === 3, 5000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(seen.filter((s) => s === 'connecting')).toHaveLength(3); // the first connect + 2 attempts
    expect(seen.at(-1)).toBe('closed');
  });
});
