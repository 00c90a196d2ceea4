import { afterEach, describe, expect, it } from 'vitest';
import { start } from './helpers.js';

let server;
afterEach(() => server?.close());

describe('HTTP on the same port', () => {
  it('answers the health check and 404 without a handler', async () => {
    server = await start();
    const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('OK');
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
  });

  it('healthCheckPath can move or be disabled', async () => {
    server = await start({ healthCheckPath: false });
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(404);
  });

  it('passes requests to the fetch handler with platform and client address', async () => {
    let seen;
    server = await start({
      fetch: async (request, { platform, getClientAddress }) => {
        seen = {
          method: request.method,
          url: request.url,
          body: await request.text(),
          header: request.headers.get('x-test'),
          address: getClientAddress(),
          hasPlatform: typeof platform.publish === 'function',
        };
        const headers = new Headers({ 'content-type': 'application/json' });
        headers.append('set-cookie', 'a=1; Path=/');
        headers.append('set-cookie', 'b=2; Path=/');
        return new Response(JSON.stringify({ ok: true }), { status: 201, headers });
      },
    });
    const res = await fetch(`http://127.0.0.1:${server.port}/api/items?q=1`, {
      method: 'POST',
      body: 'hello',
      headers: { 'x-test': 'yes' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(await res.json()).toEqual({ ok: true });
    expect(seen).toEqual({
      method: 'POST',
      url: `http://127.0.0.1:${server.port}/api/items?q=1`,
      body: 'hello',
      header: 'yes',
      address: '127.0.0.1',
      hasPlatform: true,
    });
  });

  it('a throwing handler answers 500 and is logged', async () => {
    server = await start({
      fetch: () => {
        throw new Error('broken page');
      },
    });
    const res = await fetch(`http://127.0.0.1:${server.port}/`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('Internal Server Error');
    expect(server.log.lines.some((l) => l.level === 'error' && l.text.includes('broken page'))).toBe(true);
  });

  it('bodies over bodySizeLimit get 413', async () => {
    let calls = 0;
    server = await start({ bodySizeLimit: 1024, fetch: () => (calls++, new Response('ok')) });
    const res = await fetch(`http://127.0.0.1:${server.port}/`, { method: 'POST', body: 'x'.repeat(2048) });
    expect(res.status).toBe(413);
    const ok = await fetch(`http://127.0.0.1:${server.port}/`, { method: 'POST', body: 'x'.repeat(1024) });
    expect(ok.status).toBe(200);
    expect(calls).toBe(1);
  });

  it('keeps connections alive across requests', async () => {
    server = await start({ fetch: (req) => new Response(new URL(req.url).pathname) });
    const net = await import('node:net');
    const reply = await new Promise((resolve) => {
      const socket = net.connect(server.port, '127.0.0.1', () => {
        socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      });
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('close', () => resolve(data));
    });
    expect(reply.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(reply.endsWith('/b')).toBe(true);
  });
});
