// Helpers of the multi-instance tests: start app instances as child processes (each its own
// native server and bus), and raw WebSocket users that speak the RPC protocol.

import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { connect } from '../helpers.js';

const script = fileURLToPath(new URL('./instance.js', import.meta.url));

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A channel prefix of its own, so test files never hear each other. */
export function uniqueChannel() {
  return `test:${randomBytes(6).toString('hex')}`;
}

/** Starts one instance; resolves with `{ port, url, stats(), publish(), stop() }`. */
export function startInstance(config) {
  const child = fork(script, [JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      const { ready } = JSON.parse(line);
      const request = (msg, key) =>
        new Promise((res) => {
          const on = (reply) => {
            if (reply[key] === undefined) return;
            child.off('message', on);
            res(reply[key]);
          };
          child.on('message', on);
          child.send(msg);
        });
      resolve({
        port: ready,
        url: `ws://127.0.0.1:${ready}/ws`,
        child,
        get stderr() {
          return stderr;
        },
        stats: () => request('stats', 'stats'),
        notifyStats: () => request('notifyStats', 'notifyStats'),
        publish: (topic, event, data, relay = true) => request({ publish: [topic, event, data, relay] }, 'published'),
        stop: () =>
          new Promise((res) => {
            if (child.exitCode !== null || child.signalCode !== null) return res();
            child.once('exit', res);
            child.kill('SIGTERM');
          }),
        kill: () =>
          new Promise((res) => {
            if (child.exitCode !== null || child.signalCode !== null) return res();
            child.once('exit', res);
            child.kill('SIGKILL');
          }),
      });
    });
    child.once('exit', (code) => reject(new Error(`instance exited with ${code}: ${stderr}`)));
  });
}

/**
 * A raw client as user `name`: `call(path, ...args)` and `stream(path, ...args)` resolve
 * with the RPC reply; `events` collects every non-RPC envelope.
 */
export async function user(url, name = 'anon', options = {}) {
  const ws = await connect(`${url}?u=${encodeURIComponent(name)}`, options);
  const replies = new Map();
  const events = [];
  ws.on('message', (raw) => {
    const msg = JSON.parse(raw.toString());
    if (msg.topic === '__rpc') replies.get(msg.event)?.(msg.data);
    else events.push(msg);
  });
  let n = 0;
  const send = (path, args, extra) =>
    new Promise((resolve) => {
      const id = `r${++n}`;
      replies.set(id, resolve);
      ws.send(JSON.stringify({ rpc: path, id, args, ...extra }));
    });
  ws.events = events;
  ws.call = (path, ...args) => send(path, args, {});
  ws.stream = (path, ...args) => send(path, args, { stream: true });
  ws.streamWith = (extra, path, ...args) => send(path, args, { stream: true, ...extra });
  return ws;
}

/**
 * A test file's fixture: `pair()` starts two instances on one fresh channel of the shared
 * Redis, `track(ws)` remembers a client; `cleanup()` (in `afterEach`) ends them all.
 */
export function fixture() {
  const running = [];
  const clients = [];
  return {
    async pair(extra = {}) {
      const channel = uniqueChannel();
      const list = await Promise.all(['i0', 'i1'].map((name) => startInstance({ redis: REDIS_URL, channel, name, ...extra })));
      running.push(...list);
      return list;
    },
    track(ws) {
      clients.push(ws);
      return ws;
    },
    async cleanup() {
      for (const c of clients.splice(0)) c.terminate();
      await Promise.all(running.splice(0).map((i) => i.stop()));
    },
  };
}
