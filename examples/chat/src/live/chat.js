import { live, LiveError, guard } from 'svelte-realtime/server';
import * as store from '$lib/server/messages.js';

export const _guard = guard((ctx) => {
  if (!ctx.user?.name) throw new LiveError('UNAUTHORIZED', 'Sign in first');
});

/** The last 50 messages, then every created/deleted one. */
export const messages = live.stream('messages', async () => store.latest(50), { merge: 'crud', key: 'id' });

export const send = live(async (ctx, text) => {
  if (typeof text !== 'string' || !text.trim()) throw new LiveError('VALIDATION', 'Say something');
  if (text.length > 500) throw new LiveError('VALIDATION', 'At most 500 characters');
  const message = store.add(ctx.user.name, text.trim());
  ctx.publish('messages', 'created', message);
  ctx.publish('typing:lobby', 'leave', { key: ctx.user.sid });
  return message;
});

export const remove = live(async (ctx, id) => {
  const message = store.remove(id, ctx.user.name);
  if (!message) throw new LiveError('NOT_FOUND', 'No such message of yours');
  ctx.publish('messages', 'deleted', { id });
});

/** Who is here: joins on subscribe, leaves on disconnect; late joiners get the list. */
export const presence = live.channel('presence:lobby', {
  merge: 'presence',
  onSubscribe: (ctx, topic) => ctx.publish(topic, 'join', { key: ctx.user.sid, data: { name: ctx.user.name } }),
  onUnsubscribe: (ctx, topic) => ctx.publish(topic, 'leave', { key: ctx.user.sid }),
});

/** Who is typing: a join that expires after 3 s of quiet. */
export const typing = live.channel('typing:lobby', { merge: 'presence' });

export const setTyping = live(async (ctx) => {
  const key = ctx.user.sid;
  ctx.publish('typing:lobby', 'join', { key, data: { name: ctx.user.name } });
  ctx.debounce('typing:lobby', 'leave', { key }, 3000);
});

/** Live cursors, at most 20 updates per second per user. */
export const cursors = live.channel('cursors:lobby', {
  merge: 'cursor',
  onUnsubscribe: (ctx, topic) => ctx.publish(topic, 'remove', { key: ctx.user.sid }),
});

export const moveCursor = live(async (ctx, x, y) => {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return;
  ctx.throttle('cursors:lobby', 'update', { key: ctx.user.sid, name: ctx.user.name, x, y }, 50);
});
