// Development checks of the runtime (`dev: true`, set by the Vite plugin under `vite dev`).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMessage, live, Registry } from '../lib/server/index.js';
import { connect, start, waitFor } from './helpers.js';

let server;
afterEach(() => server?.close());

async function serverWith(dev) {
  const registry = new Registry();
  registry.registerModule('docs', {
    big: live(() => 'x'.repeat(3000)),
    small: live(() => 'ok'),
  });
  server = await start({ dev, websocket: { maxPayloadLength: 1024 }, hooks: { message: createMessage({ registry }) } });
  const client = await connect(server.wsUrl);
  const call = (rpc, id) => {
    client.send(JSON.stringify({ rpc, id, args: [] }));
    return client.next();
  };
  return call;
}

describe('dev checks', () => {
  it('warns once per function about a reply larger than maxPayloadLength', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const call = await serverWith(true);
    await call('docs/big', 'a');
    await call('docs/big', 'b');
    await call('docs/small', 'c');
    await waitFor(() => warn.mock.calls.length > 0);
    const warnings = warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes('maxPayloadLength'));
    warn.mockRestore();
    expect(warnings).toEqual([expect.stringMatching(/docs\/big replied 3 KiB, more than maxPayloadLength \(1 KiB\).*1009/)]);
  });

  it('says nothing outside dev', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const call = await serverWith(false);
    expect(JSON.parse(await call('docs/big', 'a')).data.ok).toBe(true);
    const calls = warn.mock.calls.length;
    warn.mockRestore();
    expect(calls).toBe(0);
  });
});
