// `svelte-realtime/postgres`: a PostgreSQL client for live modules and the NOTIFY bridge
// (reference-protocol §8.4). Both run in Rust: queries on the addon's background thread,
// the listener on the server's I/O threads, where a notification in the default
// `{topic, event, data}` JSON becomes a publish without entering JavaScript.

import { native } from '../runtime/native.js';
import { NATIVE_SERVER } from '../runtime/platform.js';

const NATIVE_PG = Symbol('svelte-realtime.nativePg');
// Type OIDs node-postgres turns into Date: date, timestamp (local time), timestamptz.
const DATE_TYPES = new Set([1082, 1114, 1184]);

function fail(message) {
  throw new TypeError(`svelte-realtime/postgres: ${message}`);
}

/** A parameter as node-postgres sends it: text, or null. */
function param(value) {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return '\\x' + Buffer.from(value).toString('hex');
  if (Array.isArray(value)) return arrayLiteral(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function arrayLiteral(items) {
  const parts = items.map((item) => {
    if (item === null || item === undefined) return 'NULL';
    if (Array.isArray(item)) return arrayLiteral(item);
    const text = param(item);
    return '"' + text.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
  });
  return '{' + parts.join(',') + '}';
}

function toDate(text, type) {
  if (typeof text !== 'string' || text === 'infinity' || text === '-infinity') return text;
  // timestamptz carries its zone (Z); date and timestamp are local time, as in node-postgres.
  const date = new Date(type === 1082 ? text + 'T00:00:00' : text);
  return Number.isNaN(date.getTime()) ? text : date;
}

function queryError(error, sql) {
  const match = /^\[([0-9A-Z]{5})\] ([\s\S]*)$/.exec(error.message);
  const out = new Error(match ? match[2] : error.message);
  if (match) out.code = match[1];
  out.query = sql.length > 200 ? sql.slice(0, 200) + '…' : sql;
  return out;
}

/**
 * A PostgreSQL connection (`connectionString`, default `DATABASE_URL`): one connection,
 * opened on first use and reopened after a loss. `query(text, params)` resolves like
 * node-postgres's: `{ rows, rowCount, fields }`, rows as objects; `$1`-style parameters;
 * timestamps as `Date`, `bigint` and `numeric` as strings, `json`/`jsonb` parsed.
 *
 * @param {{ connectionString?: string }} [options]
 */
export function createPgClient(options = {}) {
  if (options === null || typeof options !== 'object') fail('createPgClient(options) takes an object');
  const connectionString = options.connectionString ?? process.env.DATABASE_URL;
  if (typeof connectionString !== 'string' || connectionString === '') {
    fail('connectionString is required (or set DATABASE_URL), e.g. postgres://user@127.0.0.1:5432/app');
  }
  const client = new (native().NativePg)(connectionString);
  return {
    [NATIVE_PG]: client,
    /**
     * @param {string} text
     * @param {unknown[]} [params]
     */
    async query(text, params = []) {
      if (typeof text !== 'string' || text === '') fail('query(text, params) needs the SQL text');
      if (!Array.isArray(params)) fail('query params must be an array');
      let result;
      try {
        result = await client.query(text, params.map(param));
      } catch (error) {
        throw queryError(error, text);
      }
      const { fields, rowCount } = result;
      const rows = result.rows.map((values) => {
        const row = {};
        for (let i = 0; i < fields.length; i++) {
          const value = values[i];
          row[fields[i].name] = DATE_TYPES.has(fields[i].dataTypeID) ? toDate(value, fields[i].dataTypeID) : value;
        }
        return row;
      });
      return { rows, rowCount, fields };
    },
    /** Closes the connection; a later query opens a new one. */
    end() {
      client.close();
    },
  };
}

function nativeOf(pg) {
  const client = pg?.[NATIVE_PG];
  if (!client) fail('expected the client returned by createPgClient()');
  return client;
}

/**
 * The NOTIFY bridge (§8.4): a dedicated connection runs `LISTEN "<channel>"`; every
 * notification becomes `platform.publish(topic, event, data)` on this instance only (each
 * instance listens itself, so a bus never relays it). The default parser takes
 * `{"topic","event","data"}` JSON; `parse(payload, channel)` may return that shape or null
 * to skip. After a lost connection it reconnects every `reconnectInterval` ms (notifications
 * sent meanwhile are lost: Postgres keeps none for absent listeners).
 *
 * @param {ReturnType<typeof createPgClient>} pg
 * @param {{ channel: string, parse?: (payload: string, channel: string) => any, autoReconnect?: boolean, reconnectInterval?: number }} options
 */
export function createNotifyBridge(pg, options) {
  const client = nativeOf(pg);
  if (options === null || typeof options !== 'object') fail('createNotifyBridge(pg, { channel }) needs options');
  const { channel, parse, autoReconnect = true, reconnectInterval = 3000 } = options;
  if (typeof channel !== 'string' || channel === '') fail('channel must be a non-empty string');
  if (parse !== undefined && typeof parse !== 'function') fail('parse must be a function (payload, channel) => { topic, event, data } | null');
  if (typeof autoReconnect !== 'boolean') fail('autoReconnect must be a boolean');
  if (!Number.isFinite(reconnectInterval) || reconnectInterval < 0) fail('reconnectInterval must be a non-negative number of ms');

  let listener = null;
  let platform = null;
  let refused = 0;
  let warned = false;

  function deliver(from, payload) {
    let message;
    try {
      message = parse(payload, from);
    } catch (error) {
      refused++;
      console.warn(`[svelte-realtime] createNotifyBridge: parse threw on channel ${channel}: ${error?.message ?? error}`);
      return;
    }
    if (!message || typeof message.topic !== 'string' || !message.topic || typeof message.event !== 'string' || !message.event) {
      refused++;
      return;
    }
    try {
      platform.publish(message.topic, message.event, message.data, { relay: false });
    } catch (error) {
      refused++;
      console.warn(`[svelte-realtime] createNotifyBridge: publish to ${message.topic} failed: ${error?.message ?? error}`);
    }
  }

  return {
    channel,
    /** Starts listening on this server (the first call; later ones only update the platform). */
    activate(target) {
      const getNative = target?.[NATIVE_SERVER];
      if (typeof getNative !== 'function') {
        if (!warned) {
          warned = true;
          console.warn('[svelte-realtime] createNotifyBridge: this platform is not a svelte-realtime server platform; not listening.');
        }
        return;
      }
      platform = target;
      if (listener) return;
      listener = getNative().listenNotify(client, channel, reconnectInterval, autoReconnect, parse ? deliver : undefined);
    },
    /** Stops listening and closes the dedicated connection. */
    deactivate() {
      listener?.stop();
      listener = null;
    },
    /** `{ received, dropped, connects, listening }`, or null while not active. */
    stats() {
      if (!listener) return null;
      const stats = listener.stats();
      return { ...stats, dropped: stats.dropped + refused };
    },
  };
}
