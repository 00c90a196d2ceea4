import { afterEach, describe, expect, it } from 'vitest';
import { connect, start, waitFor } from './helpers.js';

let server;
afterEach(() => server?.close());

const sub = (topic) => JSON.stringify({ type: 'subscribe', topic });
const unsub = (topic) => JSON.stringify({ type: 'unsubscribe', topic });

/** Sends a message the `message` hook records, to know earlier frames were processed. */
async function sync(client, messages) {
  const marker = `sync-${Math.random()}`;
  client.send(marker);
  await waitFor(() => messages.includes(marker));
}

describe('client subscriptions are secure by default', () => {
  it('an ungranted topic is refused without a subscribe hook', async () => {
    const messages = [];
    server = await start({ hooks: { message: (ws, { data }) => messages.push(Buffer.from(data).toString()) } });
    const client = await connect(server.wsUrl);
    client.send(sub('secret'));
    await sync(client, messages);
    expect(server.platform.subscribers('secret')).toBe(0);
    expect(server.platform.publish('secret', 'x', 1)).toBe(false);
    expect(messages.some((m) => m.includes('"subscribe"'))).toBe(false);
  });

  it('a topic the server subscribed can be re-subscribed by the client until revoked', async () => {
    const messages = [];
    let ws;
    server = await start({
      hooks: {
        open: (s) => {
          ws = s;
          s.subscribe('feed');
        },
        message: (s, { data }) => messages.push(Buffer.from(data).toString()),
      },
    });
    const client = await connect(server.wsUrl);
    await waitFor(() => ws);
    client.send(unsub('feed'));
    await sync(client, messages);
    expect(ws.isSubscribed('feed')).toBe(false);
    client.send(sub('feed'));
    await sync(client, messages);
    expect(ws.isSubscribed('feed')).toBe(true);
    expect(ws.getTopics()).toEqual(['feed']);
    ws.unsubscribe('feed');
    client.send(sub('feed'));
    await sync(client, messages);
    expect(ws.isSubscribed('feed')).toBe(false);
  });

  it('the subscribe hook decides for ungranted topics: false refuses, anything else allows', async () => {
    const asked = [];
    const messages = [];
    server = await start({
      hooks: {
        subscribe: (ws, topic) => {
          asked.push(topic);
          if (topic === 'no') return false;
          if (topic === 'later') return Promise.resolve(true);
          if (topic === 'later-no') return Promise.resolve(false);
          if (topic === 'throws') throw new Error('nope');
          return undefined;
        },
        message: (ws, { data }) => messages.push(Buffer.from(data).toString()),
      },
    });
    const client = await connect(server.wsUrl);
    for (const t of ['yes', 'no', 'later', 'later-no', 'throws']) client.send(sub(t));
    await sync(client, messages);
    await waitFor(() => server.platform.subscribers('later') === 1);
    expect(asked).toEqual(['yes', 'no', 'later', 'later-no', 'throws']);
    expect(server.platform.subscribers('yes')).toBe(1);
    expect(server.platform.subscribers('no')).toBe(0);
    expect(server.platform.subscribers('later-no')).toBe(0);
    expect(server.platform.subscribers('throws')).toBe(0);
    server.platform.publish('yes', 'e', 1);
    expect(JSON.parse(await client.next())).toEqual({ topic: 'yes', event: 'e', data: 1 });
  });

  it('topics starting with __ are never client-subscribable, even with a hook', async () => {
    const asked = [];
    const messages = [];
    let ws;
    server = await start({
      hooks: {
        open: (s) => {
          ws = s;
          s.subscribe('__signal:alice');
          s.unsubscribe('__signal:alice');
          s.subscribe('__signal:alice');
        },
        subscribe: (s, topic) => {
          asked.push(topic);
          return true;
        },
        message: (s, { data }) => messages.push(Buffer.from(data).toString()),
      },
    });
    const client = await connect(server.wsUrl);
    await waitFor(() => ws);
    client.send(sub('__signal:bob'));
    client.send(sub('__rpc'));
    client.send(unsub('__signal:alice'));
    client.send(sub('__signal:alice'));
    await sync(client, messages);
    expect(asked).toEqual([]);
    expect(server.platform.subscribers('__signal:bob')).toBe(0);
    expect(ws.isSubscribed('__signal:alice')).toBe(true);
  });

  it('control frames never reach the message hook; other type frames do', async () => {
    const messages = [];
    server = await start({ hooks: { message: (ws, { data }) => messages.push(Buffer.from(data).toString()) } });
    const client = await connect(server.wsUrl);
    client.send(sub('x'));
    client.send(unsub('x'));
    client.send('{"type":"replay","topic":"chat","since":12}');
    await sync(client, messages);
    expect(messages.slice(0, -1)).toEqual(['{"type":"replay","topic":"chat","since":12}']);
  });
});
