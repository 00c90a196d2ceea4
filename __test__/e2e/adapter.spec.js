// What `node build` serves: static files from Rust, SvelteKit for the rest, the
// adapter-node environment variables, and startup warnings.
import { cpSync, mkdtempSync, rmSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemo, demo, startBuilt, stop } from './demo.js';
import { parseBytes, readEnv } from '../../lib/adapter/env.js';
import { connect, refusedStatus, waitFor } from '../helpers.js';

let server;
let url;

beforeAll(async () => {
  buildDemo();
  server = await startBuilt(0);
  url = server.url.replace('localhost', '127.0.0.1');
}, 240_000);

afterAll(() => stop(server));

function immutableAsset() {
  const dir = join(demo, 'build', 'client', '_app', 'immutable', 'entry');
  const file = readdirSync(dir).find((f) => f.endsWith('.js'));
  return `/_app/immutable/entry/${file}`;
}

describe('static files', () => {
  it('immutable assets: type, length, one-year cache, precompressed variants', async () => {
    const path = immutableAsset();
    const plain = await fetch(url + path, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(plain.headers.get('content-encoding')).toBeNull();
    const body = await plain.arrayBuffer();
    const br = await fetch(url + path, { headers: { 'accept-encoding': 'br' }, decompress: false });
    expect(br.headers.get('content-encoding')).toBe('br');
    expect(br.headers.get('vary')).toBe('Accept-Encoding');
    expect((await br.arrayBuffer()).byteLength).toBe(body.byteLength); // fetch decodes it back
    const gz = await fetch(url + path, { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
  });

  it('other files revalidate: ETag, 304 with the cache headers', async () => {
    const first = await fetch(`${url}/_app/version.json`);
    expect(first.headers.get('cache-control')).toBe('no-cache');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^W\/"/);
    const again = await fetch(`${url}/_app/version.json`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(again.headers.get('cache-control')).toBe('no-cache');
  });

  it('HEAD answers headers only', async () => {
    const res = await fetch(url + immutableAsset(), { method: 'HEAD', headers: { 'accept-encoding': 'identity' } });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('content-length'))).toBeGreaterThan(0);
  });

  it('path traversal finds nothing', async () => {
    const net = await import('node:net');
    const { port } = new URL(url);
    for (const path of ['/../package.json', '/_app/../../package.json', '/%2e%2e/package.json', '/..%2fserver%2findex.js', '/_app/immutable/%2e%2e/%2e%2e/index.js']) {
      const reply = await new Promise((resolve) => {
        const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
        let data = '';
        socket.on('data', (d) => (data += d));
        socket.on('close', () => resolve(data));
      });
      expect(reply, path).toMatch(/^HTTP\/1\.1 (404|400)/);
      expect(reply, path).not.toContain('svelte-realtime-demo-chat');
      expect(reply, path).not.toContain('await start(');
    }
  });
});

describe('SvelteKit behind the runtime', () => {
  it('event.platform is the runtime platform; getClientAddress is the socket address', async () => {
    expect(await (await fetch(`${url}/api/whoami`)).json()).toEqual({
      address: '127.0.0.1',
      origin: url,
      platform: true,
      thread: 0, // one JavaScript thread without CLUSTER_WORKERS
    });
  });

  it('the health check answers OK', async () => {
    const res = await fetch(`${url}/healthz`);
    expect([res.status, await res.text()]).toEqual([200, 'OK']);
  });

  it('BODY_SIZE_LIMIT, ADDRESS_HEADER/XFF_DEPTH, ORIGIN', async () => {
    const other = await startBuilt(0, demo, {
      BODY_SIZE_LIMIT: '1K',
      ADDRESS_HEADER: 'x-forwarded-for',
      XFF_DEPTH: '2',
      ORIGIN: 'https://chat.example',
    });
    try {
      const base = other.url.replace('localhost', '127.0.0.1');
      const small = await fetch(`${base}/api/whoami`, { method: 'POST', body: 'x'.repeat(1000), headers: { origin: 'https://chat.example' } });
      expect(await small.json()).toEqual({ bytes: 1000 });
      const big = await fetch(`${base}/api/whoami`, { method: 'POST', body: 'x'.repeat(5000), headers: { origin: 'https://chat.example' } });
      expect(big.status).toBe(413);
      const who = await fetch(`${base}/api/whoami`, { headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.2, 10.0.0.1' } });
      expect(await who.json()).toMatchObject({ address: '198.51.100.2', origin: 'https://chat.example' });
      // Behind a TLS proxy: the browser says https://chat.example, the server sees plain
      // http with some internal Host. ORIGIN is the app's origin, so the upgrade is allowed.
      const wsUrl = `${base.replace('http', 'ws')}/ws`;
      const behindProxy = await connect(wsUrl, { headers: { origin: 'https://chat.example', host: 'app.internal:3000', cookie: 'name=proxy' } });
      behindProxy.close();
      expect(await refusedStatus(wsUrl, { headers: { origin: 'https://evil.example' } })).toBe(403);
    } finally {
      await stop(other);
    }
  });
});

describe('CLUSTER_WORKERS', () => {
  it('2 JavaScript threads: HTTP requests and WebSockets served by both, one port', async () => {
    const cluster = await startBuilt(0, demo, { CLUSTER_WORKERS: '2' });
    try {
      expect(cluster.output).toContain('with 2 JavaScript threads');
      const base = cluster.url.replace('localhost', '127.0.0.1');
      const threads = new Set();
      for (let i = 0; i < 8; i++) {
        const res = await fetch(`${base}/api/whoami`);
        const body = await res.json();
        expect(body.platform).toBe(true);
        threads.add(body.thread);
      }
      expect(threads.size).toBe(2); // idle runners take turns
      const page = await fetch(`${base}/`);
      expect(page.status).toBe(200);
      // Our client's protocol on both threads: streams and an RPC whose publish reaches all.
      const sockets = await Promise.all([0, 1, 2, 3].map((i) => connect(`${base.replace('http', 'ws')}/ws`, { headers: { cookie: `name=u${i}` } })));
      const inbox = sockets.map((ws) => {
        const got = [];
        ws.on('message', (raw) => got.push(JSON.parse(raw.toString())));
        return got;
      });
      const rpcReply = (i, id) => inbox[i].find((m) => m.topic === '__rpc' && m.event === id)?.data;
      sockets.forEach((ws, i) => ws.send(JSON.stringify({ rpc: 'chat/messages', id: `m${i}`, args: [], stream: true })));
      await waitFor(() => sockets.every((_, i) => rpcReply(i, `m${i}`)?.ok));
      sockets[0].send(JSON.stringify({ rpc: 'chat/send', id: 'hello', args: ['hello from the cluster'] }));
      await waitFor(() => inbox.every((got) => got.some((m) => m.topic === 'messages' && m.event === 'created' && m.data.text === 'hello from the cluster')));
      expect(rpcReply(0, 'hello')).toMatchObject({ ok: true, data: { text: 'hello from the cluster' } });
      for (const ws of sockets) ws.close();
    } finally {
      await stop(cluster);
    }
  });
});

describe('startup', () => {
  it('warns clearly when the WebSocket hooks are missing', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'srt-build-'));
    cpSync(join(demo, 'build'), join(copy, 'build'), { recursive: true });
    symlinkSync(join(demo, 'node_modules'), join(copy, 'node_modules'), 'dir');
    rmSync(join(copy, 'build', 'server', 'svelte-realtime', 'hooks.ws.js'));
    const broken = await startBuilt(0, copy);
    try {
      expect(broken.output).toContain('src/hooks.ws.js is missing');
    } finally {
      await stop(broken);
    }
  });
});

describe('environment', () => {
  it('parses sizes and validates variables', () => {
    expect(parseBytes('512K')).toBe(524288);
    expect(parseBytes('1M')).toBe(1048576);
    expect(parseBytes('100B')).toBe(100);
    expect(parseBytes('Infinity')).toBe(Infinity);
    expect(() => readEnv('', { PORT: 'abc' })).toThrow(/PORT/);
    expect(() => readEnv('', { XFF_DEPTH: '0' })).toThrow(/XFF_DEPTH/);
    expect(() => readEnv('', { ORIGIN: 'ftp://x' })).toThrow(/ORIGIN/);
    expect(() => readEnv('', { BODY_SIZE_LIMIT: 'lots' })).toThrow(/BODY_SIZE_LIMIT/);
    expect(() => readEnv('MY_', { MY_PORTT: '1' })).toThrow(/unexpectedly saw MY_PORTT/);
    expect(readEnv('MY_', { MY_PORT: '8080', PORT: '1' }).port).toBe(8080);
  });
});
