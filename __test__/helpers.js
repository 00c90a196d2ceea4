// Test helpers: a server on a free loopback port with logs captured, and `ws` clients with
// a message queue, so tests can await "the next message" without races.

import WebSocket from 'ws';
import { serve } from '../lib/runtime/index.js';

/** A logger that records instead of printing. */
export function captureLog() {
  const lines = [];
  const record = (level) => (...args) => lines.push({ level, text: args.map(String).join(' ') });
  return { lines, info: record('info'), warn: record('warn'), error: record('error') };
}

/**
 * The socket engine the suites run on: `auto` (inline on this 2-core CI machine) unless
 * `SR_TEST_ENGINE=threads` (or `inline`) asks for the other; `npm test` runs the runtime
 * suites once more on engine threads (`vitest.threads.config.js`).
 */
const engine = process.env.SR_TEST_ENGINE;

/**
 * Starts a server on 127.0.0.1:0 with signals off and logs captured. `close()` waits at most
 * 2 s for handlers a test left running (the default, 30 s, would outlast the test's hooks).
 */
export async function start(options = {}) {
  const log = options.log ?? captureLog();
  const server = await serve({ host: '127.0.0.1', port: 0, signals: false, shutdownTimeout: 2, log, ...(engine ? { engine } : {}), ...options });
  server.log = log;
  server.wsUrl = `ws://127.0.0.1:${server.port}${options.websocket?.path ?? '/ws'}`;
  return server;
}

/**
 * Opens a client and resolves once open. `client.next()` resolves with the next text
 * message (or rejects on close); `client.closed` resolves with `{ code, reason }`.
 */
export function connect(url, options = {}) {
  const ws = new WebSocket(url, options);
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const message = isBinary ? data : data.toString();
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(message);
    else queue.push(message);
  });
  ws.closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      for (const waiter of waiters.splice(0)) waiter.reject(new Error(`closed with ${code}`));
      resolve({ code, reason: reason.toString() });
    });
  });
  ws.next = (timeout = 5000) => {
    if (queue.length) return Promise.resolve(queue.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within timeout')), timeout);
      waiters.push({
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
  };
  ws.received = queue;
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      const error = new Error(`upgrade refused with ${res.statusCode}`);
      error.status = res.statusCode;
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        error.body = body;
        reject(error);
      });
    });
    ws.once('error', reject);
  });
}

/** Resolves with the HTTP status of a refused upgrade (fails if it opens). */
export async function refusedStatus(url, options) {
  try {
    const ws = await connect(url, options);
    ws.terminate();
    throw new Error('the upgrade was accepted');
  } catch (error) {
    if (!error.status) throw error;
    return error.status;
  }
}

/** Polls `predicate` every 10 ms until it is truthy or `timeout` ms pass. */
export async function waitFor(predicate, timeout = 5000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met within timeout');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A promise with its resolve function. */
export function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}
