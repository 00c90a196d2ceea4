// `live.room({ topic, init, presence, cursors, actions, guard, onJoin, onLeave, merge, key })`:
// data, presence, cursors and scoped actions under one export. Endpoints (registered by the
// registry under `module/room/`): `__data` (a dynamic stream), `__presence` and `__cursors`
// (channels, so late joiners get the current state from the server), `__action/<name>`.
//
// The room guard runs for every endpoint, before anything is subscribed (the reference
// skipped it for presence and cursors and ran it after subscribing, bug §9.3); the module's
// `_guard` applies too. Actions get `ctx.publish(event, data)` bound to the room's topic.

import { live } from './live.js';
import { mark } from './meta.js';
import { TOPIC_STATE } from './stream.js';

export function room(config) {
  const { topic, init, presence, cursors, actions = {}, guard: roomGuard, onJoin, onLeave, merge = 'crud', key = 'id' } = config ?? {};
  if (typeof topic !== 'function' && (typeof topic !== 'string' || !topic)) {
    throw new TypeError('live.room: topic must be a string or a function (ctx, ...args) => string');
  }
  for (const [name, fn] of Object.entries(actions)) {
    if (!/^[a-zA-Z0-9_]+$/.test(name)) throw new TypeError(`live.room: action name "${name}" must be [a-zA-Z0-9_]`);
    if (typeof fn !== 'function') throw new TypeError(`live.room: action ${name} must be a function`);
  }
  const topicOf = (ctx, ...args) => (typeof topic === 'function' ? topic(ctx, ...args) : topic);
  const guarded = (suffix) => async (ctx, ...args) => {
    if (roomGuard) await roomGuard(ctx, ...args);
    return `${await topicOf(ctx, ...args)}${suffix}`;
  };
  const member = (ctx) => ctx.user?.id ?? 'anon';
  /**
   * The server keeps presence and cursors from the first member on, not from the first
   * watcher of those channels: a late presence subscriber must see members who joined
   * while nobody watched (their join was published before anyone tracked the topic).
   */
  const trackRoom = (ctx, t) => {
    const state = ctx.ws?.[TOPIC_STATE];
    if (!state) return;
    // Anchored to the room's data topic: kept while the room has members.
    if (presence) state.track(`${t}:presence`, { merge: 'presence', key: 'key', anchor: t });
    if (cursors) state.track(`${t}:cursors`, { merge: 'cursor', key: 'key', anchor: t });
  };

  const endpoints = {};
  endpoints.__data = live.stream(
    guarded(''),
    async (ctx, ...args) => {
      if (onJoin) {
        try {
          await onJoin(ctx, ...args);
        } catch (error) {
          console.error('[svelte-realtime] room onJoin threw:', error);
        }
      }
      return init ? init(ctx, ...args) : [];
    },
    {
      merge,
      key,
      onSubscribe:
        presence || cursors
          ? async (ctx, t) => {
              trackRoom(ctx, t);
              if (presence) ctx.publish(`${t}:presence`, 'join', { key: member(ctx), data: await presence(ctx) });
            }
          : undefined,
      onUnsubscribe: presence || onLeave
        ? async (ctx, t) => {
            if (presence) ctx.publish(`${t}:presence`, 'leave', { key: member(ctx) });
            await onLeave?.(ctx);
          }
        : undefined,
    },
  );
  if (presence) endpoints.__presence = live.channel(guarded(':presence'), { merge: 'presence' });
  if (cursors) endpoints.__cursors = live.channel(guarded(':cursors'), { merge: 'cursor' });
  for (const [name, fn] of Object.entries(actions)) {
    endpoints[`__action/${name}`] = live(async (ctx, ...args) => {
      const roomTopic = await guarded('')(ctx, ...args);
      const scoped = { ...ctx, publish: (event, data) => ctx.publish(roomTopic, event, data) };
      return fn(scoped, ...args);
    });
  }
  const handle = () => {
    throw new TypeError('a live.room is not callable; use its endpoints');
  };
  return mark(handle, { kind: 'room', endpoints, actions: Object.keys(actions), presence: Boolean(presence), cursors: Boolean(cursors), merge, key });
}
