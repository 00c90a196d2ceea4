// The two merge engines on the same vectors: the browser one (lib/shared/merge.js) and the
// Rust one through the addon (NativeMergeState). The Rust engine also runs them without Node
// (crates/realtime-core/tests/merge_vectors.rs).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NativeMergeState } from '../index.js';
import { MERGE_STRATEGIES, createMergeState, normalizeMergeOptions } from '../lib/shared/merge.js';

const vectors = JSON.parse(readFileSync(new URL('./vectors/merge.json', import.meta.url), 'utf8'));

describe('merge vectors', () => {
  it('has enough vectors, with unique names', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(30);
    expect(new Set(vectors.map((v) => v.name)).size).toBe(vectors.length);
  });

  describe('JavaScript engine', () => {
    it.each(vectors)('$name', ({ options, initial, events, expected }) => {
      const state = createMergeState(options, structuredClone(initial));
      for (const [event, data] of events) state.apply(event, structuredClone(data));
      expect(state.value).toEqual(expected);
    });
  });

  describe('Rust engine (NativeMergeState)', () => {
    it.each(vectors)('$name', ({ options, initial, events, expected }) => {
      const state = new NativeMergeState(options, JSON.stringify(initial));
      for (const [event, data] of events) state.apply(event, JSON.stringify(data));
      expect(JSON.parse(state.valueJson())).toEqual(expected);
    });
  });
});

describe('both engines on random event sequences', () => {
  // Keys of every kind the engines must tell apart: numbers, numeric strings, null, missing.
  const KEYS = [1, 2, 3, '1', '2', null, undefined, true];

  /** mulberry32: small, deterministic, good enough in the low bits. */
  function random(seed) {
    let s = seed >>> 0;
    return (bound) => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = Math.imul(s ^ (s >>> 15), s | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) % bound;
    };
  }

  const cases = [
    [{ merge: 'crud' }, ['created', 'updated', 'deleted', 'other'], 'id'],
    [{ merge: 'crud', prepend: true }, ['created', 'updated', 'deleted'], 'id'],
    [{ merge: 'presence' }, ['join', 'leave', 'set'], 'key'],
    [{ merge: 'cursor' }, ['update', 'remove', 'set'], 'key'],
    [{ merge: 'latest', max: 7 }, ['x'], 'id'],
  ];

  it.each(cases)('%j', (options, events, field) => {
    const next = random(0x5eed);
    const item = (step) => {
      const k = KEYS[next(KEYS.length)];
      return k === undefined ? { step } : { [field]: k, step };
    };
    const js = createMergeState(options, []);
    const native = new NativeMergeState(options, '[]');
    for (let step = 0; step < 1500; step++) {
      const event = events[next(events.length)];
      // `set` brings duplicate keys on purpose.
      const data = event === 'set' ? Array.from({ length: next(6) }, () => item(step)) : item(step);
      js.apply(event, structuredClone(data));
      native.apply(event, JSON.stringify(data));
      expect(JSON.parse(native.valueJson()), `step ${step}: ${event} ${JSON.stringify(data)}`).toEqual(js.value);
    }
  });
});

describe('normalizeMergeOptions', () => {
  it('fills in the live.stream() defaults', () => {
    expect(normalizeMergeOptions()).toEqual({ merge: 'crud', key: 'id', prepend: false, max: 50 });
    expect(normalizeMergeOptions({ merge: null, key: undefined })).toEqual({
      merge: 'crud',
      key: 'id',
      prepend: false,
      max: 50,
    });
    expect(normalizeMergeOptions({ merge: 'latest', max: 3 })).toEqual({
      merge: 'latest',
      key: 'id',
      prepend: false,
      max: 3,
    });
    expect(MERGE_STRATEGIES).toEqual(['crud', 'latest', 'set', 'presence', 'cursor']);
  });

  it('rejects an unknown strategy and a max that is not a positive integer', () => {
    expect(() => normalizeMergeOptions({ merge: 'append' })).toThrow(
      new TypeError(`unknown merge strategy "append": expected 'crud', 'latest', 'set', 'presence' or 'cursor'`),
    );
    for (const max of [0, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY, '10']) {
      expect(() => normalizeMergeOptions({ merge: 'latest', max })).toThrow(TypeError);
    }
    expect(() => normalizeMergeOptions({ key: 1 })).toThrow(TypeError);
    expect(() => normalizeMergeOptions({ prepend: 'yes' })).toThrow(TypeError);
    expect(() => createMergeState({ merge: 'nope' }, [])).toThrow(/unknown merge strategy "nope"/);
  });
});

describe('createMergeState', () => {
  it('changes the array in place and keeps its reference', () => {
    const initial = [{ id: 1 }, { id: 2 }];
    const state = createMergeState({ merge: 'crud' }, initial);
    expect(state.apply('created', { id: 3 })).toBe(initial);
    state.apply('updated', { id: 1, v: 1 });
    state.apply('deleted', { id: 2 });
    expect(state.value).toBe(initial);
    expect(initial).toEqual([{ id: 1, v: 1 }, { id: 3 }]);
  });

  it('set() replaces the value and rebuilds the index', () => {
    const state = createMergeState({ merge: 'crud', key: 'slug' }, [{ slug: 'a' }]);
    const next = [{ slug: 'b' }, { slug: 'a', v: 1 }];
    state.set(next);
    state.apply('updated', { slug: 'a', v: 2 });
    state.apply('deleted', { slug: 'b' });
    expect(state.value).toBe(next);
    expect(next).toEqual([{ slug: 'a', v: 2 }]);
    expect(state.options).toEqual({ merge: 'crud', key: 'slug', prepend: false, max: 50 });
  });

  it('reads only own properties as keys', () => {
    const state = createMergeState({ merge: 'crud', key: 'constructor' }, []);
    state.apply('created', { v: 1 });
    state.apply('created', { v: 2 });
    state.apply('created', JSON.parse('{"constructor":"c","v":3}'));
    expect(state.value).toEqual([{ v: 2 }, { constructor: 'c', v: 3 }]);
  });

  it('keeps an initial value of undefined until an event arrives', () => {
    const state = createMergeState({ merge: 'presence' });
    expect(state.value).toBeUndefined();
    state.apply('join', { key: 'a' });
    expect(state.value).toEqual([{ key: 'a' }]);
  });
});

describe('NativeMergeState', () => {
  it('throws a clear error on bad options and bad JSON, and keeps its value', () => {
    expect(() => new NativeMergeState({ merge: 'append' })).toThrow(/unknown merge strategy "append"/);
    expect(() => new NativeMergeState({ merge: 'latest', max: 0 })).toThrow(/max must be a positive integer/);
    expect(() => new NativeMergeState({ merge: 'latest', max: 1.5 })).toThrow(/max must be a positive integer/);
    expect(() => new NativeMergeState({}, '[1,')).toThrow(/the initial value is not valid JSON/);
    const state = new NativeMergeState({}, '[{"id":1}]');
    expect(() => state.apply('created', '{"id":')).toThrow(/the event data is not valid JSON/);
    expect(() => state.setValueJson('nope')).toThrow(/the value is not valid JSON/);
    expect(JSON.parse(state.valueJson())).toEqual([{ id: 1 }]);
  });

  it('starts from null without an initial value', () => {
    const state = new NativeMergeState({ merge: 'set' });
    expect(state.valueJson()).toBe('null');
    state.apply('x', '{"n":1}');
    expect(state.valueJson()).toBe('{"n":1}');
  });

  it('keeps a "__proto__" key a plain key', () => {
    const state = new NativeMergeState({ merge: 'crud' }, '[]');
    state.apply('created', '{"id":1,"__proto__":{"isAdmin":true}}');
    const [item] = JSON.parse(state.valueJson());
    expect(Object.hasOwn(item, '__proto__')).toBe(true);
    expect(item.isAdmin).toBeUndefined();
  });

  it('setValueJson() replaces the value and rebuilds the index', () => {
    const state = new NativeMergeState({ merge: 'cursor' }, '[]');
    state.setValueJson('[{"key":"a","x":1},{"key":"b","x":1}]');
    state.apply('update', '{"key":"a","x":2}');
    state.apply('remove', '{"key":"b"}');
    expect(JSON.parse(state.valueJson())).toEqual([{ key: 'a', x: 2 }]);
  });
});
