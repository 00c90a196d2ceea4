import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, start, waitFor } from './helpers.js';

const SOCKETS = 1000;
const MESSAGES = 20;

describe('fan-out', () => {
  let server;
  let clients;
  beforeAll(async () => {
    server = await start({ hooks: { open: (ws) => ws.subscribe('all') } });
    clients = [];
    for (let i = 0; i < SOCKETS; i += 100) {
      const batch = await Promise.all(Array.from({ length: 100 }, () => connect(server.wsUrl)));
      clients.push(...batch);
    }
    await waitFor(() => server.platform.subscribers('all') === SOCKETS);
  });
  afterAll(async () => {
    for (const c of clients) c.terminate();
    await server.close();
  });

  it(`one publish reaches ${SOCKETS} sockets, nothing lost, in order`, async () => {
    expect(server.connections).toBe(SOCKETS);
    for (let n = 0; n < MESSAGES; n++) {
      expect(server.platform.publish('all', 'n', n)).toBe(true);
    }
    await waitFor(() => clients.every((c) => c.received.length >= MESSAGES), 15_000);
    for (const client of clients) {
      expect(client.received.map((m) => JSON.parse(m).data)).toEqual(
        Array.from({ length: MESSAGES }, (_, n) => n),
      );
    }
  });
});
