// Compile-only: the public typings accept the spec's usage (checked by `tsc` in types.spec.js).
import { live, guard, LiveError, createMessage, handleRpc, message, close, pipe, enableSignals } from 'svelte-realtime/server';
import { RpcError, batch, configure, combine, onSignal, status, __rpc, __stream } from 'svelte-realtime/client';
import { createTestEnv } from 'svelte-realtime/test';
import { serve, type WebSocketHooks } from 'svelte-realtime/runtime';

export const sendMessage = live(async (ctx, text: string) => {
  if (!ctx.user) throw new LiveError('UNAUTHORIZED', 'Login required');
  ctx.publish('messages', 'created', { text });
  return { text };
});
export const messages = live.stream('messages', async () => [{ id: 1 }], { merge: 'crud', key: 'id', prepend: true });
export const rooms = live.stream((ctx, id: string) => 'chat:' + id, async (ctx, id: string) => [{ id }]);
export const typing = live.channel('typing:lobby', { merge: 'presence' });
export const _guard = guard((ctx) => {
  if (!ctx.user) throw new LiveError('UNAUTHORIZED');
});
export const limited = live.rateLimit({ points: 5, window: 10_000 }, live(async () => 1));
export const piped = pipe(messages, pipe.limit(10), pipe.sort('id', 'desc'));
export const stats = live.derived(['orders'], async () => ({ n: 1 }), { debounce: 10 });
export const job = live.cron('*/5 * * * *', 'stats', async () => 1);
export const hookMessage = createMessage({ onError: (path, error, ctx) => void ctx.user, onUnhandled: () => {} });
const hooks: WebSocketHooks<{ id: string }> = {
  upgrade: ({ cookies }) => (cookies.session ? { id: cookies.session } : false),
  open: (ws) => enableSignals(ws),
  message,
  close,
};
void handleRpc;
void hooks;

async function client() {
  configure({ onConnect() {}, offline: { queue: true, maxQueue: 10 }, timeout: 5000 });
  const send = __rpc('chat/sendMessage');
  await send('hi');
  await send.fresh('hi');
  const [a, b] = await batch(() => [send('a'), send('b')], { sequential: true });
  void a;
  void b;
  const store = __stream('chat/messages');
  const unsubscribe = status.subscribe((s: 'connecting' | 'open' | 'closed') => void s);
  unsubscribe();
  const stop = onSignal('me', (event, data) => void [event, data]);
  stop();
  try {
    await send('x');
  } catch (error) {
    if (error instanceof RpcError && error.code === 'VALIDATION') void error.issues;
  }
  void combine(status, status, (x, y) => x === y);
  void store;
}
void client;

async function testing() {
  const env = createTestEnv();
  env.register('chat', { sendMessage, messages });
  const alice = env.connect({ id: 'alice' });
  const stream = alice.subscribe('chat/messages');
  await stream.waitFor((v) => Array.isArray(v));
  await alice.call('chat/sendMessage', 'hi');
  env.cleanup();
}
void testing;

async function runtime() {
  const server = await serve({ port: 0, hooks, websocket: { maxPayloadLength: 1024, allowedOrigins: ['https://a.example'] } });
  server.platform.publish('t', 'e', { x: 1 });
  await server.close();
}
void runtime;
