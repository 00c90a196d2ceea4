// PostgreSQL on a real server (issue 10): the query client's types and errors, and the NOTIFY
// bridge across two instances that also share a Redis bus (a notification reaches each
// instance's subscribers once: every instance listens, none relays), with the default parser
// in Rust, a custom parser in JavaScript, malformed payloads dropped and counted, and LISTEN
// restored after the server kills the listener's connection.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPgClient } from '../../lib/postgres/index.js';
import { waitFor } from '../helpers.js';
import { REDIS_URL, startInstance, uniqueChannel, user } from '../redis/cluster.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const suffix = randomBytes(4).toString('hex');
const table = `orders_${suffix}`;
const pg = createPgClient({ connectionString: DATABASE_URL });

const running = [];
const clients = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(running.splice(0).map((i) => i.stop()));
});

beforeAll(async () => {
  // The README's trigger: every change as {table, op, row} on `changes_<suffix>`, and a
  // second one in the default {topic, event, data} shape on `direct_<suffix>`.
  await pg.query(`
    CREATE TABLE ${table} (id serial PRIMARY KEY, item text NOT NULL);
    CREATE FUNCTION notify_${suffix}() RETURNS trigger AS $$
    BEGIN
      PERFORM pg_notify('changes_${suffix}', json_build_object(
        'table', TG_TABLE_NAME, 'op', lower(TG_OP), 'row', row_to_json(COALESCE(NEW, OLD)))::text);
      PERFORM pg_notify('direct_${suffix}', json_build_object('topic', 'orders', 'event',
        CASE TG_OP WHEN 'INSERT' THEN 'created' WHEN 'UPDATE' THEN 'updated' ELSE 'deleted' END,
        'data', row_to_json(COALESCE(NEW, OLD)))::text);
      RETURN NULL;
    END $$ LANGUAGE plpgsql;
    CREATE TRIGGER t_${suffix} AFTER INSERT OR UPDATE OR DELETE ON ${table}
      FOR EACH ROW EXECUTE FUNCTION notify_${suffix}();
  `);
});

afterAll(async () => {
  await pg.query(`DROP TABLE IF EXISTS ${table}; DROP FUNCTION IF EXISTS notify_${suffix}();`);
  pg.end();
});

describe('createPgClient', () => {
  it('returns rows as objects with node-postgres types', async () => {
    const { rows, rowCount, fields } = await pg.query(
      `SELECT $1::int AS i, $2::bigint AS big, $3::numeric AS num, $4::text AS t, $5::jsonb AS j,
              $6::timestamptz AS at, $7::bool AS b, $8::text AS nothing, $9::int[] AS list,
              $10::bytea AS bin, '6f1c2a9e-0d4e-4a57-9f52-3c1d2b7a8e11'::uuid AS u`,
      [42, '9007199254740993', '12.50', "it's", { a: [1, 'x'] }, new Date('2026-12-04T10:00:00.123Z'), true, null, [1, 2, 3], Buffer.from('hi')],
    );
    expect(rowCount).toBe(1);
    expect(fields.map((f) => f.name)).toEqual(['i', 'big', 'num', 't', 'j', 'at', 'b', 'nothing', 'list', 'bin', 'u']);
    const row = rows[0];
    expect(row).toMatchObject({ i: 42, big: '9007199254740993', num: '12.50', t: "it's", j: { a: [1, 'x'] }, b: true, nothing: null, list: [1, 2, 3] });
    expect(row.at).toBeInstanceOf(Date);
    expect(row.at.toISOString()).toBe('2026-12-04T10:00:00.123Z');
    expect(row.u).toBe('6f1c2a9e-0d4e-4a57-9f52-3c1d2b7a8e11');
    expect(Buffer.from(row.bin, 'base64').toString()).toBe('hi');
  });

  it('counts affected rows and reports server errors with their SQLSTATE', async () => {
    const inserted = await pg.query(`INSERT INTO ${table} (item) VALUES ($1), ($2)`, ['a', 'b']);
    expect(inserted.rowCount).toBe(2);
    expect(inserted.rows).toEqual([]);
    const deleted = await pg.query(`DELETE FROM ${table} WHERE item IN ('a', 'b')`);
    expect(deleted.rowCount).toBe(2);
    await expect(pg.query('SELEC 1')).rejects.toMatchObject({ code: '42601', message: expect.stringContaining('syntax error') });
    await expect(pg.query('SELECT * FROM missing_table_xyz')).rejects.toMatchObject({ code: '42P01' });
    await expect(pg.query('SELECT $1::int', ['not a number'])).rejects.toMatchObject({ code: '22P02' });
  });

  it('refuses bad options with a clear error', () => {
    expect(() => createPgClient({ connectionString: 'postgres://[bad' })).toThrow(/connection string/);
    expect(() => createPgClient({ connectionString: '' })).toThrow(/connectionString is required/);
  });
});

async function twoInstances(pgConfig) {
  const channel = uniqueChannel();
  const list = await Promise.all(
    ['i0', 'i1'].map((name) => startInstance({ redis: REDIS_URL, channel, name, pg: { url: DATABASE_URL, ...pgConfig } })),
  );
  running.push(...list);
  await Promise.all(list.map((i) => waitFor(async () => (await i.notifyStats())?.listening)));
  const subs = [];
  for (const instance of list) {
    const ws = await user(instance.url, 'sub');
    clients.push(ws);
    expect((await ws.stream('feed/items', 'orders')).ok).toBe(true);
    subs.push(ws);
  }
  return { list, subs };
}

const events = (ws) => ws.events.filter((e) => e.topic === 'orders');

describe('createNotifyBridge', () => {
  it('default parser: each instance publishes each notification to its own subscribers once', async () => {
    const { list, subs } = await twoInstances({ channel: `direct_${suffix}` });
    await pg.query(`INSERT INTO ${table} (item) VALUES ('one'), ('two')`);
    await pg.query(`UPDATE ${table} SET item = 'uno' WHERE item = 'one'`);
    await pg.query(`DELETE FROM ${table} WHERE item = 'two'`);
    for (const ws of subs) await waitFor(() => events(ws).length >= 4);
    await new Promise((r) => setTimeout(r, 300)); // a relayed duplicate would be here by now
    for (const ws of subs) {
      expect(events(ws).map((e) => [e.event, e.data.item])).toEqual([
        ['created', 'one'],
        ['created', 'two'],
        ['updated', 'uno'],
        ['deleted', 'two'],
      ]);
    }
    // Malformed payloads are dropped and counted, never published, never fatal.
    await pg.query(`SELECT pg_notify('direct_${suffix}', 'not json'), pg_notify('direct_${suffix}', '{"topic":"orders"}')`);
    await waitFor(async () => (await list[0].notifyStats()).dropped === 2);
    expect(await list[1].notifyStats()).toMatchObject({ received: 6, dropped: 2, connects: 1, listening: true });
    expect(events(subs[0])).toHaveLength(4);
    const busStats = (await list[0].stats()).bus;
    expect(busStats.published).toBe(0); // never relayed
  });

  it('custom parse maps the README trigger (insert/update/delete → created/updated/deleted)', async () => {
    const { list, subs } = await twoInstances({ channel: `changes_${suffix}`, custom: true });
    await pg.query(`INSERT INTO ${table} (item) VALUES ('three')`);
    await pg.query(`UPDATE ${table} SET item = 'tres' WHERE item = 'three'`);
    await pg.query(`DELETE FROM ${table} WHERE item = 'tres'`);
    for (const ws of subs) await waitFor(() => events(ws).length >= 3);
    for (const ws of subs) {
      expect(events(ws).map((e) => [e.event, e.data.item])).toEqual([
        ['created', 'three'],
        ['updated', 'tres'],
        ['deleted', 'tres'],
      ]);
    }
    // `{"op":"truncate"}` maps to null (skipped); a payload that makes parse throw is skipped too.
    await pg.query(`SELECT pg_notify('changes_${suffix}', '{"table":"orders","op":"truncate"}'), pg_notify('changes_${suffix}', '{')`);
    await waitFor(async () => (await list[0].notifyStats()).dropped === 2);
    expect(events(subs[0])).toHaveLength(3);
  });

  it('listens again after Postgres kills the connection', async () => {
    const { list, subs } = await twoInstances({ channel: `direct_${suffix}`, reconnectInterval: 100 });
    const { rowCount } = await pg.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()`,
      [`LISTEN "direct_${suffix}"`],
    );
    expect(rowCount).toBe(2);
    for (const instance of list) {
      await waitFor(async () => {
        const stats = await instance.notifyStats();
        return stats.connects === 2 && stats.listening;
      });
    }
    await pg.query(`INSERT INTO ${table} (item) VALUES ('after')`);
    for (const ws of subs) await waitFor(() => events(ws).some((e) => e.data.item === 'after'));
    expect(list[0].stderr).toMatch(/Postgres NOTIFY/);
  });
});
