import { describe, expect, it } from 'vitest';
import { DEFAULTS, serve } from '../lib/runtime/index.js';
import { normalizeOptions } from '../lib/runtime/options.js';

describe('options', () => {
  it('documents the defaults', () => {
    expect(DEFAULTS.port).toBe(3000);
    expect(DEFAULTS.websocket).toEqual({
      path: '/ws',
      maxPayloadLength: 16384,
      idleTimeout: 120,
      sendPingsAutomatically: true,
      maxBackpressure: 1048576,
      closeOnBackpressureLimit: false,
      maxConnections: 100000,
      upgradeTimeout: 10,
      allowedOrigins: 'same-origin',
    });
    expect(DEFAULTS.shutdownTimeout).toBe(30);
    expect(DEFAULTS.bodySizeLimit).toBe(512 * 1024);
  });

  it.each([
    [{ websocket: { path: 'ws' } }, /websocket.path must start with "\/"/],
    [{ websocket: { maxPayloadLength: -1 } }, /maxPayloadLength must be at least 1/],
    [{ websocket: { idleTimeout: 0.5 } }, /idleTimeout must be 0 \(disabled\) or at least 1 second/],
    [{ websocket: { allowedOrigins: 'nope' } }, /allowedOrigins/],
    [{ websocket: { maxPayload: 1 } }, /unknown websocket option "maxPayload"/],
    [{ prot: 1 }, /unknown option "prot"/],
    [{ port: 1.5 }, /port must be an integer/],
    [{ fetch: 'x' }, /fetch must be a function/],
    [{ healthCheckPath: 'x' }, /healthCheckPath/],
    [{ protocolHeader: 'bad header' }, /protocolHeader must be an HTTP header name/],
  ])('rejects %j', (options, message) => {
    expect(() => normalizeOptions(options)).toThrow(message);
  });

  it('rejects an origin list entry that is not an origin at startup', async () => {
    await expect(
      serve({ port: 0, signals: false, websocket: { allowedOrigins: ['example.com'] } }),
    ).rejects.toThrow(/allowedOrigins entry "example.com"/);
  });

  it('reports a port in use clearly', async () => {
    const first = await serve({ host: '127.0.0.1', port: 0, signals: false });
    await expect(serve({ host: '127.0.0.1', port: first.port, signals: false })).rejects.toThrow(
      /could not listen on 127\.0\.0\.1:\d+/,
    );
    await first.close();
  });

  it('warns about exports that are not hooks, and rejects non-function hooks', async () => {
    const warnings = [];
    const log = { info() {}, warn: (m) => warnings.push(m), error() {} };
    const server = await serve({ port: 0, signals: false, log, hooks: { message() {}, helper() {} } });
    expect(warnings).toEqual([expect.stringContaining('"helper" is not a WebSocket hook')]);
    await server.close();
    await expect(serve({ port: 0, signals: false, hooks: { open: 5 } })).rejects.toThrow(
      /hooks.open must be a function/,
    );
  });
});
