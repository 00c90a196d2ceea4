// Room presence on the native runtime: members who joined through the room's data stream
// before anyone watched its presence channel are in the first presence snapshot (issue 8).
import { afterEach, describe, expect, it } from 'vitest';
import { close, createMessage, live, Registry } from '../lib/server/index.js';
import { connect, start, waitFor } from './helpers.js';

let server;
afterEach(() => server?.close());

async function roomServer() {
  const registry = new Registry();
  registry.registerModule('m', {
    board: live.room({
      topic: (ctx, id) => `board:${id}`,
      init: () => [],
      presence: (ctx) => ({ name: ctx.user.id }),
      cursors: true,
    }),
  });
  server = await start({
    hooks: {
      upgrade: ({ url }) => ({ id: new URL(url, 'http://x').searchParams.get('u') }),
      message: createMessage({ registry }),
      close,
    },
  });
}

/** A raw client as user `u`; `call` sends a stream request and resolves with its reply. */
async function user(u) {
  const ws = await connect(`${server.wsUrl}?u=${u}`);
  const replies = new Map();
  const events = [];
  ws.on('message', (raw) => {
    const msg = JSON.parse(raw.toString());
    if (msg.topic === '__rpc') replies.get(msg.event)?.(msg.data);
    else events.push(msg);
  });
  let n = 0;
  ws.stream = (path, ...args) =>
    new Promise((resolve) => {
      const id = `${u}${n++}`;
      replies.set(id, resolve);
      ws.send(JSON.stringify({ rpc: path, id, args, stream: true }));
    });
  ws.events = events;
  return ws;
}

describe('room presence', () => {
  it('a late presence subscriber sees members who joined before anyone watched', async () => {
    await roomServer();
    const alice = await user('alice');
    const bob = await user('bob');
    expect((await alice.stream('m/board/__data', 'r1')).ok).toBe(true);
    expect((await bob.stream('m/board/__data', 'r1')).ok).toBe(true);
    const carol = await user('carol');
    const presence = await carol.stream('m/board/__presence', 'r1');
    expect(presence.data).toEqual([
      { key: 'alice', data: { name: 'alice' } },
      { key: 'bob', data: { name: 'bob' } },
    ]);
    // Leaving is seen by later subscribers too, and the state goes once the room is empty.
    bob.close();
    await waitFor(async () => (await (await user('dave')).stream('m/board/__presence', 'r1')).data.length === 1);
    alice.close();
    carol.close();
    await waitFor(() => server.connections <= 1);
    const erin = await user('erin');
    await waitFor(async () => (await erin.stream('m/board/__presence', 'r1')).data.length === 0);
  });
});
