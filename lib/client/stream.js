// Stream stores: what a `live.stream()` export becomes in the browser.
//
// Value: `undefined` while loading, then the data, merged with live events in place (the
// store re-emits the same array); `{ error }` when the first fetch fails. The first
// subscriber sends the stream request; the last one cancels it, sends `unsubscribe` and
// resets the value.
//
// No event is lost around a (re)subscribe (reference bug §9.10): the server subscribes the
// socket before reading the data, so events published meanwhile arrive before the response.
// While a request is in flight every envelope is buffered; after the response the ones for
// its topic are applied on top of the data (idempotent for keyed merges; for `latest` an
// event already present in the data is skipped). On reconnect the store keeps its stale
// value and sends one new request (no unsubscribe first, no duplicate request on a cold
// start).

import { createMergeState, normalizeMergeOptions } from '../shared/merge.js';
import { listen, status, tap } from './connection.js';
import { RpcError } from './errors.js';
import { cancel, nextId, request } from './rpc.js';
import { writable } from './store.js';

const copy = (value) => (Array.isArray(value) ? value.slice() : value);

function isPage(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && 'data' in value && 'hasMore' in value;
}

/**
 * @param {string} path `module/export`
 * @param {{ merge?: string, key?: string, prepend?: boolean, max?: number, version?: number }} stub
 * @param {unknown[]} args dynamic topic arguments
 * @param {() => void} [onIdle] called when the last subscriber leaves
 */
export function createStream(path, stub = {}, args = [], onIdle) {
  let options = normalizeMergeOptions({ merge: stub.merge, key: stub.key, prepend: stub.prepend, max: stub.max });
  let state = createMergeState(options, undefined);
  let error = null;
  let topic = null;
  let unlisten = null;
  let refetchId = null;
  let untapBuffer = null;
  let seq;
  let epoch;
  let deltaVersion;
  let schemaVersion = stub.version;
  let hasMore = false;
  let cursor;
  let loadingMore = false;
  let history = null;
  let started = false;
  let unwatchStatus = null;

  const store = writable(undefined, () => {
    start();
    return stop;
  });

  const devtoolsKey = {};
  const emit = () => {
    store.set(error ? { error } : state.value);
    globalThis.__svelteRealtimeDevtools?.stream(devtoolsKey, { path, args, topic, value: error ? { error: error.code } : state.value });
  };

  function record() {
    if (!history || history.paused) return;
    history.entries.splice(history.index + 1);
    history.entries.push(copy(state.value));
    if (history.entries.length > history.max) history.entries.shift();
    history.index = history.entries.length - 1;
  }

  function adopt(payload) {
    const next = {
      merge: payload.merge ?? options.merge,
      key: payload.key ?? options.key,
      prepend: payload.prepend ?? options.prepend,
      max: payload.max ?? options.max,
    };
    if (next.merge !== options.merge || next.key !== options.key || next.prepend !== options.prepend || next.max !== options.max) {
      options = normalizeMergeOptions(next);
      state = createMergeState(options, state.value);
    }
  }

  /**
   * Sequenced events (a stream with `replay`): applied once, in order. One at or below our
   * sequence was applied already (it came in the replay too); one beyond the next means
   * events went missing, so we ask for them (the server replays or sends everything).
   * Returns whether to apply it.
   */
  function inSequence(envelope) {
    const n = envelope?.seq;
    if (typeof n !== 'number' || typeof seq !== 'number') return true;
    if (n <= seq) return false;
    if (n > seq + 1) {
      fetch();
      return false;
    }
    seq = n;
    return true;
  }

  function onEvent(event, data, envelope) {
    // While a (re)fetch is in flight its buffer owns the events of this topic.
    if (refetchId) return;
    if (!inSequence(envelope)) return;
    state.apply(event, data);
    record();
    emit();
  }

  function alreadyPresent(data) {
    const json = JSON.stringify(data);
    return Array.isArray(state.value) && state.value.some((item) => JSON.stringify(item) === json);
  }

  function onResponse(payload, buffered) {
    error = null;
    if (payload.gated) {
      // The gate said no: stay `undefined` (the reference showed `null`, §9.20).
      state.set(undefined);
      store.set(undefined);
      return;
    }
    adopt(payload);
    if (payload.seq !== undefined) seq = payload.seq;
    if (payload.epoch !== undefined) epoch = payload.epoch;
    if (payload.version !== undefined) deltaVersion = payload.version;
    if (payload.schemaVersion !== undefined) schemaVersion = payload.schemaVersion;
    if (payload.unchanged) {
      // Nothing changed since our version: keep the value.
    } else if (payload.delta) {
      for (const item of payload.data ?? []) state.apply(item?._deleted ? 'deleted' : 'created', item);
    } else if (payload.replay) {
      for (const entry of payload.data ?? []) {
        state.apply(entry.event, entry.data);
        if (typeof entry.seq === 'number') seq = entry.seq;
      }
    } else {
      state.set(payload.data);
    }
    hasMore = Boolean(payload.hasMore);
    cursor = payload.cursor;
    if (topic !== payload.topic) {
      unlisten?.();
      topic = payload.topic;
      unlisten = typeof topic === 'string' ? listen(topic, onEvent, { announce: false }) : null;
    }
    for (const envelope of buffered) {
      if (envelope.topic !== topic) continue;
      if (typeof envelope.seq === 'number' && typeof seq === 'number') {
        if (envelope.seq <= seq) continue; // in the response already
        if (envelope.seq > seq + 1) {
          // A hole before this one: apply what we have, then ask for the rest.
          queueMicrotask(fetch);
          break;
        }
        seq = envelope.seq;
      } else if (options.merge === 'latest' && alreadyPresent(envelope.data)) continue;
      state.apply(envelope.event, envelope.data);
    }
    record();
    emit();
  }

  function onFailure(failure) {
    if (failure?.code === 'DISCONNECTED') return; // keep what we show; the reconnect refetches
    if (state.value === undefined || error) {
      error = failure instanceof RpcError ? failure : new RpcError('STREAM_ERROR', String(failure?.message ?? failure));
      emit();
    } else {
      console.warn(`[svelte-realtime] refreshing ${path} failed; showing the last data:`, failure);
    }
  }

  function fetch() {
    if (refetchId) return;
    const id = nextId();
    refetchId = id;
    const msg = { rpc: path, id, args, stream: true };
    if (typeof seq === 'number') msg.seq = seq;
    if (typeof epoch === 'string') msg.epoch = epoch;
    if (deltaVersion !== undefined) msg.version = deltaVersion;
    if (schemaVersion !== undefined) msg.schemaVersion = schemaVersion;
    const buffered = [];
    untapBuffer = tap((envelope) => {
      if (envelope.topic !== '__rpc') buffered.push(envelope);
    });
    const settle = () => {
      untapBuffer?.();
      untapBuffer = null;
      refetchId = null;
    };
    request(id, JSON.stringify(msg), { raw: true, path }).then(
      (payload) => {
        if (refetchId !== id) return;
        settle();
        try {
          onResponse(payload, buffered);
        } catch (failure) {
          // A reply this client cannot use (an unknown merge, say) is a stream error.
          onFailure(failure);
        }
      },
      (failure) => {
        if (refetchId !== id) return;
        settle();
        onFailure(failure);
      },
    );
  }

  function start() {
    started = true;
    let first = true;
    unwatchStatus = status.subscribe((value) => {
      if (first) {
        first = false;
        return;
      }
      if (value === 'open' && started) fetch();
    });
    fetch();
  }

  function stop() {
    started = false;
    unwatchStatus?.();
    unwatchStatus = null;
    if (refetchId) cancel(refetchId);
    refetchId = null;
    untapBuffer?.();
    untapBuffer = null;
    unlisten?.();
    unlisten = null;
    topic = null;
    error = null;
    state.set(undefined);
    store.set(undefined);
    history = null;
    hasMore = false;
    cursor = undefined;
    globalThis.__svelteRealtimeDevtools?.stream(devtoolsKey, null);
    onIdle?.();
  }

  return {
    subscribe: store.subscribe,

    /** Whether `loadMore()` can fetch another page. */
    get hasMore() {
      return hasMore;
    },

    /**
     * Fetches the next page (the stream returned `{ data, hasMore, cursor }`) and appends it
     * (prepends with `prepend`). Resolves with the new `hasMore`; false without a next page.
     */
    async loadMore(...extra) {
      if (loadingMore || !hasMore || cursor === undefined || cursor === null) return false;
      loadingMore = true;
      try {
        const id = nextId();
        const msg = { rpc: path, id, args: [...args, ...extra], stream: true, cursor };
        const payload = await request(id, JSON.stringify(msg), { raw: true });
        hasMore = Boolean(payload.hasMore);
        cursor = payload.cursor;
        const current = state.value;
        const more = payload.data;
        if (Array.isArray(current) && Array.isArray(more)) {
          state.set(options.prepend ? [...more, ...current] : [...current, ...more]);
        } else {
          state.set(more);
        }
        emit();
        return hasMore;
      } catch (failure) {
        throw failure instanceof RpcError ? failure : new RpcError('LOAD_MORE_ERROR', String(failure?.message ?? failure));
      } finally {
        loadingMore = false;
      }
    },

    /** Shows server-rendered data at once (a `{ data, hasMore, cursor }` page too). */
    hydrate(data) {
      if (isPage(data)) {
        hasMore = Boolean(data.hasMore);
        cursor = data.cursor;
        state.set(data.data);
      } else {
        state.set(data);
      }
      error = null;
      emit();
      return this;
    },

    /**
     * Applies an event locally now; returns `rollback()` restoring the previous value. A
     * rollback also takes the optimistic step out of the history when nothing was recorded
     * after it, so `undo()` never brings a rolled-back item back.
     */
    optimistic(event, data) {
      const snapshot = copy(state.value);
      state.apply(event, data);
      record();
      const step = history ? history.index : -1;
      emit();
      return () => {
        state.set(snapshot);
        if (history && step > 0 && history.index === step && history.entries.length === step + 1) {
          history.entries.pop();
          history.index -= 1;
        } else {
          record();
        }
        emit();
      };
    },

    /** Starts recording a history of values for undo/redo (`max` entries). */
    enableHistory(max = 50) {
      history = { entries: [copy(state.value)], index: 0, max, paused: false };
    },
    undo() {
      if (!history) return this.enableHistory();
      if (history.index === 0) return;
      history.index -= 1;
      state.set(copy(history.entries[history.index]));
      emit();
    },
    redo() {
      if (!history) return this.enableHistory();
      if (history.index >= history.entries.length - 1) return;
      history.index += 1;
      state.set(copy(history.entries[history.index]));
      emit();
    },
    get canUndo() {
      return Boolean(history && history.index > 0);
    },
    get canRedo() {
      return Boolean(history && history.index < history.entries.length - 1);
    },
    pauseHistory() {
      if (history) history.paused = true;
    },
    /** Ends a pause: records the value reached meanwhile as one step. Without a pause, nothing. */
    resumeHistory() {
      if (!history?.paused) return;
      history.paused = false;
      record();
    },

    /**
     * A store that mirrors this one only while `condition` holds (a boolean, a store, or a
     * getter read at subscribe time), and is `undefined` otherwise.
     */
    when(condition) {
      const self = this;
      return {
        subscribe(run) {
          let inner = null;
          const set = (on) => {
            if (on && !inner) {
              inner = self.subscribe(run);
            } else if (!on && inner) {
              inner();
              inner = null;
              run(undefined);
            }
          };
          let unwatch = null;
          if (condition && typeof condition.subscribe === 'function') {
            unwatch = condition.subscribe((v) => set(Boolean(v)));
          } else {
            set(Boolean(typeof condition === 'function' ? condition() : condition));
          }
          if (!inner) run(undefined);
          return () => {
            unwatch?.();
            inner?.();
            inner = null;
          };
        },
      };
    },
  };
}

/**
 * What the Vite plugin's client stub calls for each stream export: a store, or for dynamic
 * topics a factory whose stores are cached by arguments while they have subscribers.
 */
export function streamExport(path, stub = {}, dynamic = false) {
  if (!dynamic) return createStream(path, stub, []);
  const cache = new Map();
  return (...args) => {
    const key = JSON.stringify(args);
    let entry = cache.get(key);
    if (!entry) {
      entry = createStream(path, stub, args, () => cache.delete(key));
      cache.set(key, entry);
    }
    return entry;
  };
}
