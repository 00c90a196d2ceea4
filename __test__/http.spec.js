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

describe('streaming HTTP', () => {
  it('request bodies stream into the handler', async () => {
    server = await start({
      bodySizeLimit: 4 * 1024 * 1024,
      fetch: async (request) => {
        let bytes = 0;
        for await (const chunk of request.body) bytes += chunk.byteLength;
        return new Response(String(bytes));
      },
    });
    const body = new Uint8Array(3 * 1024 * 1024).fill(7);
    const res = await fetch(`http://127.0.0.1:${server.port}/upload`, { method: 'POST', body });
    expect(await res.text()).toBe(String(body.length));
  });

  it('a body over the limit without Content-Length gets 413 mid-stream', async () => {
    let sawError = null;
    server = await start({
      bodySizeLimit: 1024,
      fetch: async (request) => {
        try {
          await request.arrayBuffer();
        } catch (error) {
          sawError = error.message;
        }
        return new Response('never sent');
      },
    });
    const chunks = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(new Uint8Array(512));
        controller.close();
      },
    });
    const res = await fetch(`http://127.0.0.1:${server.port}/`, { method: 'POST', body: chunks, duplex: 'half' });
    expect(res.status).toBe(413);
    await new Promise((r) => setTimeout(r, 50));
    expect(sawError).toMatch(/Payload Too Large|Client went away/);
  });

  it('responses stream: the first chunk arrives before the last is produced', async () => {
    let produced = 0;
    server = await start({
      fetch: () =>
        new Response(
          new ReadableStream({
            async pull(controller) {
              if (produced === 5) return controller.close();
              produced += 1;
              controller.enqueue(new TextEncoder().encode(`part ${produced};`));
              await new Promise((r) => setTimeout(r, 40));
            },
          }),
        ),
    });
    const res = await fetch(`http://127.0.0.1:${server.port}/`);
    const reader = res.body.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('part 1;');
    expect(produced).toBeLessThan(5);
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toContain('part 5;');
  });

  it('a large streamed response arrives whole (the server drains the handler)', async () => {
    const chunk = new Uint8Array(64 * 1024).fill(1);
    const total = 320;
    server = await start({
      fetch: () => {
        let sent = 0;
        return new Response(
          new ReadableStream({
            pull(controller) {
              if (sent === total) return controller.close();
              sent += 1;
              controller.enqueue(chunk);
            },
          }),
        );
      },
    });
    const res = await fetch(`http://127.0.0.1:${server.port}/big`);
    const body = await res.arrayBuffer();
    expect(body.byteLength).toBe(total * chunk.length);
  });

  it('a single-chunk response goes out whole with Content-Length', async () => {
    server = await start({ fetch: () => new Response('hello') });
    const res = await fetch(`http://127.0.0.1:${server.port}/`);
    expect(res.headers.get('content-length')).toBe('5');
    expect(await res.text()).toBe('hello');
  });

  it('a client that leaves aborts the request signal', async () => {
    let aborted;
    const done = new Promise((r) => (aborted = r));
    server = await start({
      fetch: (request) => {
        request.signal.addEventListener('abort', () => aborted('aborted'));
        return new Promise(() => {});
      },
    });
    const controller = new AbortController();
    const pending = fetch(`http://127.0.0.1:${server.port}/hang`, { signal: controller.signal }).catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    await pending;
    expect(await done).toBe('aborted');
  });

  it('staticFiles are served by Rust before the handler', async () => {
    const { mkdtempSync, writeFileSync, mkdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'srt-static-'));
    mkdirSync(join(dir, '_app', 'immutable'), { recursive: true });
    writeFileSync(join(dir, '_app', 'immutable', 'a.js'), 'export {}');
    server = await start({
      staticFiles: { dirs: [{ path: dir }], immutablePrefix: '/_app/immutable/' },
      fetch: () => new Response('from the handler'),
    });
    const asset = await fetch(`http://127.0.0.1:${server.port}/_app/immutable/a.js`);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await asset.text()).toBe('export {}');
    expect(await (await fetch(`http://127.0.0.1:${server.port}/page`)).text()).toBe('from the handler');
  });
});
