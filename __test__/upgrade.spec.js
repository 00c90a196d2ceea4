import { afterEach, describe, expect, it } from 'vitest';
import { connect, deferred, refusedStatus, start } from './helpers.js';

let server;
afterEach(() => server?.close());

describe('upgrade hook', () => {
  it('receives headers, parsed cookies, url with query, remote address', async () => {
    const seen = deferred();
    server = await start({
      hooks: {
        upgrade(ctx) {
          seen.resolve(ctx);
          return { id: 'u1' };
        },
      },
    });
    await connect(`${server.wsUrl}?room=7&x=%20`, {
      headers: { cookie: 'session_id="abc%20def"; theme=dark; bad=%E0%A4%A', 'x-custom': 'v' },
    });
    const ctx = await seen.promise;
    expect(ctx.url).toBe('/ws?room=7&x=%20');
    expect(ctx.cookies.session_id).toBe('abc def');
    expect(ctx.cookies.theme).toBe('dark');
    expect(ctx.cookies.bad).toBe('%E0%A4%A');
    expect(ctx.headers['x-custom']).toBe('v');
    expect(ctx.headers.host).toBe(`127.0.0.1:${server.port}`);
    expect(ctx.remoteAddress).toBe('127.0.0.1');
  });

  it('the returned value becomes the user data, sync or async; falsy becomes {}', async () => {
    const users = [];
    const answers = [{ id: 1 }, Promise.resolve({ id: 2 }), undefined, null, 0];
    let i = 0;
    server = await start({
      hooks: {
        upgrade: () => answers[i++],
        open: (ws) => users.push(ws.getUserData()),
      },
    });
    for (let n = 0; n < answers.length; n++) await connect(server.wsUrl);
    await new Promise((r) => setTimeout(r, 50));
    expect(users).toEqual([{ id: 1 }, { id: 2 }, {}, {}, {}]);
  });

  it('false answers 401, a throw or a rejection 500, and the error is logged', async () => {
    const answers = [
      () => false,
      () => Promise.resolve(false),
      () => {
        throw new Error('boom');
      },
      () => Promise.reject(new Error('async boom')),
    ];
    let i = 0;
    server = await start({ hooks: { upgrade: () => answers[i++]() } });
    expect(await refusedStatus(server.wsUrl)).toBe(401);
    expect(await refusedStatus(server.wsUrl)).toBe(401);
    expect(await refusedStatus(server.wsUrl)).toBe(500);
    expect(await refusedStatus(server.wsUrl)).toBe(500);
    expect(server.log.lines.filter((l) => l.level === 'error')).toHaveLength(2);
    expect(server.connections).toBe(0);
  });

  it('without an upgrade hook every client connects with {} user data', async () => {
    const users = [];
    server = await start({ hooks: { open: (ws) => users.push(ws.getUserData()) } });
    await connect(server.wsUrl);
    await new Promise((r) => setTimeout(r, 20));
    expect(users).toEqual([{}]);
  });

  it('a client that leaves while the hook runs never opens', async () => {
    const release = deferred();
    const asked = deferred();
    let opened = 0;
    server = await start({
      hooks: {
        upgrade: () => {
          asked.resolve();
          return release.promise;
        },
        open: () => opened++,
      },
    });
    const net = await import('node:net');
    const socket = net.connect(server.port, '127.0.0.1', () => {
      socket.write(
        'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
    });
    await asked.promise;
    socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    release.resolve({ id: 1 });
    await new Promise((r) => setTimeout(r, 100));
    expect(opened).toBe(0);
    expect(server.connections).toBe(0);
  });
});

describe('origin check', () => {
  it("same-origin by default: the page's own origin passes, others get 403", async () => {
    server = await start();
    const own = `http://127.0.0.1:${server.port}`;
    await expect(connect(server.wsUrl, { origin: own })).resolves.toBeTruthy();
    expect(await refusedStatus(server.wsUrl, { origin: 'http://evil.example' })).toBe(403);
    expect(await refusedStatus(server.wsUrl, { origin: `http://127.0.0.1:${server.port + 1}` })).toBe(403);
  });

  it('a request without Origin is allowed', async () => {
    server = await start();
    await expect(connect(server.wsUrl)).resolves.toBeTruthy();
  });

  it('a list allows exactly its origins; * allows all', async () => {
    server = await start({ websocket: { allowedOrigins: ['https://app.example'] } });
    await expect(connect(server.wsUrl, { origin: 'https://app.example' })).resolves.toBeTruthy();
    expect(await refusedStatus(server.wsUrl, { origin: `http://127.0.0.1:${server.port}` })).toBe(403);
    await server.close();
    server = await start({ websocket: { allowedOrigins: '*' } });
    await expect(connect(server.wsUrl, { origin: 'http://anything.example' })).resolves.toBeTruthy();
  });

  it('403 carries the reference body', async () => {
    server = await start();
    const res = await fetch(`http://127.0.0.1:${server.port}/ws`, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        origin: 'http://evil.example',
      },
    }).catch((e) => e);
    // undici refuses to send upgrade requests; fall back to a raw socket below if so.
    if (res instanceof Response) {
      expect(res.status).toBe(403);
      expect(await res.text()).toBe('Origin not allowed');
    } else {
      const net = await import('node:net');
      const reply = await new Promise((resolve) => {
        const s = net.connect(server.port, '127.0.0.1', () => {
          s.write(
            'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
              'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
              'Origin: http://evil.example\r\n\r\n',
          );
        });
        let data = '';
        s.on('data', (d) => {
          data += d;
          if (data.includes('Origin not allowed')) s.end();
        });
        s.on('close', () => resolve(data));
      });
      expect(reply).toMatch(/^HTTP\/1\.1 403/);
      expect(reply).toMatch(/content-type: text\/plain/i);
      expect(reply.endsWith('Origin not allowed')).toBe(true);
    }
  });
});

describe('the app origin and a disabled endpoint', () => {
  it("with origin set, same-origin means that origin, whatever Host and scheme the server sees", async () => {
    server = await start({ origin: 'https://chat.example' });
    const ok = await connect(server.wsUrl, { headers: { origin: 'https://chat.example', host: 'internal:8080' } });
    ok.close();
    expect(await refusedStatus(server.wsUrl, { headers: { origin: `http://127.0.0.1:${server.port}` } })).toBe(403);
  });

  it('websocket: false serves no WebSocket endpoint: the path is plain HTTP', async () => {
    server = await start({ websocket: false, fetch: () => new Response('plain', { status: 404 }) });
    expect(await refusedStatus(server.wsUrl)).toBe(404);
    await expect(start({ websocket: 'yes' })).rejects.toThrow(/websocket must be an object of options, or false/);
  });
});
