// The Vite plugin's static scan and generated modules, without a Vite server.
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import realtime from '../vite-plugin/index.js';
import { scanLiveModule } from '../vite-plugin/scan.js';
import { clientStub, registryModule, ssrStub } from '../vite-plugin/stubs.js';

const SOURCE = `
import { live as l, pipe, guard } from 'svelte-realtime/server';
import * as rt from 'svelte-realtime';
import { db } from '$lib/server/db';
export const _guard = guard(() => {});
export const call = l(async (ctx, a) => db.secret(a));
export const validated = l.validated(schema, async () => 1);
export const limited = l.rateLimit({ points: 1, window: 10 }, async () => 1);
export const upload = l.binary(async () => 1, { maxSize: 5 });
export const feed = l.stream('feed', async () => [], { merge: 'latest', max: 20, key: 'uid', prepend: true, version: 2, onSubscribe() {} });
export const room = l.stream((ctx, id) => 'room:' + id, async () => []);
export const typing = l.channel('typing', { merge: 'presence' });
export const flag = l.channel('flag');
export const beta = l.gate(() => true, l.stream('beta', async () => []));
export const piped = pipe(l.stream('p', async () => [], { merge: 'set' }), pipe.limit(1));
export const stats = l.derived(['orders'], async () => 1);
export const agg = l.aggregate('orders', {}, { topic: 'x' });
export const board = l.room({ topic: (c, id) => id, presence: (c) => c.user, cursors: true, actions: { add: async () => 1, 'remove': async () => 2 } });
export const job = l.cron('* * * * *', 't', async () => 1);
export const hook = l.webhook('t', {});
export const fx = rt.live.effect(['t'], () => {});
export const helper = makeSomething();
export function plain() {}
export const constant = 42;
`;

describe('scan', () => {
  it('classifies every kind of export from the source alone', () => {
    const { exports, warnings } = scanLiveModule(SOURCE);
    const by = Object.fromEntries(exports.map((e) => [e.name, e]));
    expect(Object.keys(by)).toEqual([
      'call', 'validated', 'limited', 'upload', 'feed', 'room', 'typing', 'flag', 'beta', 'piped', 'stats', 'agg', 'board', 'job', 'hook', 'fx',
    ]);
    expect(by.call.kind).toBe('rpc');
    expect(by.validated.kind).toBe('rpc');
    expect(by.limited.kind).toBe('rpc');
    expect(by.upload.kind).toBe('binary');
    expect(by.feed).toMatchObject({ kind: 'stream', dynamic: false, options: { merge: 'latest', max: 20, key: 'uid', prepend: true, version: 2 } });
    expect(by.room).toMatchObject({ kind: 'stream', dynamic: true });
    expect(by.typing.options).toEqual({ merge: 'presence' });
    expect(by.flag.options).toEqual({ merge: 'set' });
    expect(by.beta).toMatchObject({ kind: 'stream', gated: true });
    expect(by.piped.options).toEqual({ merge: 'set' });
    expect(by.stats).toMatchObject({ kind: 'stream', eager: true });
    expect(by.agg).toMatchObject({ kind: 'stream', eager: true });
    expect(by.board).toMatchObject({ kind: 'room', room: { presence: true, cursors: true, actions: ['add', 'remove'] } });
    expect(by.job).toMatchObject({ kind: 'server', eager: true });
    expect(by.hook.kind).toBe('server');
    expect(by.fx).toMatchObject({ kind: 'server', eager: true });
    // Every export the client cannot call is named, with what to do about it.
    expect(warnings).toEqual([
      expect.stringContaining('export "helper" is not a direct live()'),
      expect.stringContaining('export "plain" is a plain function, so it is not callable from the client'),
      expect.stringContaining('export "constant" is not wrapped in live*()'),
    ]);
  });

  it('browser stubs hold paths and options, never server code', () => {
    const { exports } = scanLiveModule(SOURCE);
    const code = clientStub('rooms/lobby', exports);
    expect(code).toContain(`export const call = __rpc("rooms/lobby/call");`);
    expect(code).toContain(`export const room = __stream("rooms/lobby/room", {}, true);`);
    expect(code).toContain(`export const upload = __binary("rooms/lobby/upload");`);
    expect(code).toContain(`__room("rooms/lobby/board", {"presence":true,"cursors":true,"actions":["add","remove"]})`);
    expect(code).not.toMatch(/secret|db|\$lib|job|hook|fx/);
    expect(ssrStub('chat', '/abs/chat.js', exports)).toContain('ssrStream(server.feed, false)');
    expect(registryModule([{ name: 'chat', file: '/a/chat.js', eager: false }, { name: 'jobs', file: '/a/jobs.js', eager: true }])).toBe(
      [
        "import { registerModule } from 'svelte-realtime/server';",
        'registerModule("chat", () => import("/a/chat.js"));',
        'registerModule("jobs", await import("/a/jobs.js"));',
        'export const modules = ["chat","jobs"];',
        '',
      ].join('\n'),
    );
  });
});

describe('the plugin', () => {
  function project() {
    const root = mkdtempSync(join(tmpdir(), 'srt-plugin-'));
    mkdirSync(join(root, 'src', 'live', 'rooms'), { recursive: true });
    writeFileSync(join(root, 'src', 'live', 'chat.js'), "import { live } from 'svelte-realtime/server';\nexport const send = live(async () => 1);\n");
    writeFileSync(join(root, 'src', 'live', 'rooms', 'lobby.js'), "import { live } from 'svelte-realtime/server';\nexport const who = live.channel('who', { merge: 'presence' });\n");
    const plugins = realtime({ typedImports: false });
    const main = plugins.find((p) => p.name === 'svelte-realtime:live-modules');
    main.configResolved({ root, logger: console });
    const ctx = { addWatchFile() {}, error: (m) => { throw new Error(m); } };
    return { root, main, ctx };
  }

  it('resolves $live imports, nested folders too, and errors on missing modules', async () => {
    const { main, ctx } = project();
    const id = main.resolveId.call(ctx, '$live/rooms/lobby');
    expect(id).toBe('\0svelte-realtime:live:rooms/lobby');
    expect(await main.load.call(ctx, id, { ssr: false })).toContain('__stream("rooms/lobby/who", {"merge":"presence"}, false)');
    expect(await main.load.call(ctx, id, { ssr: true })).toContain('ssrStream(server.who, false)');
    expect(() => main.resolveId.call(ctx, '$live/missing')).toThrow(/no file src\/live\/missing\.js/);
    expect(main.resolveId.call(ctx, 'svelte')).toBeUndefined();
  });

  it('a module that does not parse is a build error, not a crash', async () => {
    const { root, main, ctx } = project();
    writeFileSync(join(root, 'src', 'live', 'chat.js'), 'export const broken = live(;');
    await expect(main.load.call(ctx, main.resolveId.call(ctx, '$live/chat'), {})).rejects.toThrow(/src\/live\/chat\.js/);
  });

  it('refuses $live ids that leave the live directory, however spelled', async () => {
    const { root, main, ctx } = project();
    writeFileSync(join(root, 'secret.js'), 'export const key = "hunter2";\n');
    writeFileSync(join(root, 'src', 'secret.js'), 'export const key = "hunter2";\n');
    mkdirSync(join(root, 'outside'));
    writeFileSync(join(root, 'outside', 'mod.js'), 'export const key = "hunter2";\n');
    symlinkSync(join(root, 'secret.js'), join(root, 'src', 'live', 'linked.js'));
    symlinkSync(join(root, 'outside'), join(root, 'src', 'live', 'dirlink'));
    for (const id of [
      '$live/../../secret',
      '$live/../secret',
      '$live/rooms/../../../secret',
      '$live/./chat/../../secret',
      `$live/${join(root, 'secret')}`,
      '$live/linked',
      '$live/dirlink/mod',
    ]) {
      expect(() => main.resolveId.call(ctx, id), id).toThrow(/resolves outside src\/live/);
    }
    // The typings and the registry do not pick up the escaping link either.
    const registry = await main.load.call(ctx, main.resolveId.call(ctx, 'virtual:svelte-realtime/registry'));
    expect(registry).not.toContain('linked');
    expect(registry).toContain('"chat"');
  });

  it('TypeScript live modules: types are stripped before the scan; stubs, registry and typings', async () => {
    const { root, main, ctx } = project();
    writeFileSync(
      join(root, 'src', 'live', 'todos.ts'),
      [
        "import { live } from 'svelte-realtime/server';",
        "import type { Ctx } from './types';",
        'export interface Todo { id: number; text: string }',
        'type Filter = "all" | "done";',
        'const all: Todo[] = [];',
        'export const add = live(async (ctx: Ctx, text: string): Promise<Todo> => {',
        '  const todo: Todo = { id: all.length + 1, text };',
        '  all.push(todo);',
        '  return todo satisfies Todo;',
        '});',
        "export const todos = live.stream('todos', async (ctx: Ctx, filter: Filter = 'all'): Promise<Todo[]> => all, { merge: 'crud', key: 'id' });",
        '',
      ].join('\n'),
    );
    const id = main.resolveId.call(ctx, '$live/todos');
    const client = await main.load.call(ctx, id, { ssr: false });
    expect(client).toContain('export const add = __rpc("todos/add");');
    expect(client).toContain('export const todos = __stream("todos/todos", {"merge":"crud","key":"id"}, false);');
    expect(await main.load.call(ctx, id, { ssr: true })).toContain('ssrStream(server.todos, false)');
    const registry = await main.load.call(ctx, main.resolveId.call(ctx, 'virtual:svelte-realtime/registry'));
    expect(registry).toContain('"todos"');
    const plugins = realtime({ typedImports: true });
    const types = plugins.find((p) => p.name === 'svelte-realtime:types');
    plugins.find((p) => p.name === 'svelte-realtime:live-modules').configResolved({ root, logger: console });
    await types.buildStart();
    const typings = readFileSync(join(root, 'src', 'live', '$types.d.ts'), 'utf8');
    expect(typings).toContain("declare module '$live/todos'");
    expect(typings).toContain("type M = typeof import('./todos.js');");
    expect(typings).toContain("export const add: LiveCall<M['add']>;");
  });

  it('SSR stubs import only the helpers they use', () => {
    const code = ssrStub('chat', '/abs/chat.js', [{ name: 'send', kind: 'rpc' }]);
    expect(code).toBe(["import { ssrCall } from 'svelte-realtime/internal/ssr';", 'export const send = ssrCall("chat/send");', ''].join('\n'));
  });

  it('warns about a live module that exports nothing callable', async () => {
    const { root, main, ctx } = project();
    const warnings = [];
    main.configResolved({ root, logger: { warn: (m) => warnings.push(m), error() {}, info() {} } });
    writeFileSync(join(root, 'src', 'live', 'empty.js'), 'export const limit = 10;\n');
    await main.load.call(ctx, main.resolveId.call(ctx, '$live/empty'), {});
    expect(warnings).toEqual([
      expect.stringContaining('export "limit" is not wrapped in live*()'),
      expect.stringContaining('src/live/empty.js exports nothing callable from the client'),
    ]);
  });

  it('an import of a name the live module does not export names the exports and a guess', async () => {
    const { root } = project();
    const errors = [];
    const plugins = realtime({ typedImports: false });
    const main = plugins.find((p) => p.name === 'svelte-realtime:live-modules');
    main.config({}, { command: 'serve' });
    main.configResolved({ root, logger: { warn() {}, info() {}, error: (m) => errors.push(m) } });
    const check = plugins.find((p) => p.name === 'svelte-realtime:live-imports');
    writeFileSync(
      join(root, 'src', 'live', 'talk.js'),
      "import { live } from 'svelte-realtime/server';\nexport const sendMessage = live(() => 1);\nexport const messages = live.stream('m', () => []);\n",
    );
    const code = "import { sendMesage, messages } from '$live/talk';\nimport { nope } from '$live/missing';\nexport default [sendMesage, messages];\n";
    await check.transform.call({ error: (m) => { throw new Error(m); } }, code, join(root, 'src', 'routes', '+page.svelte'));
    expect(errors).toEqual([
      expect.stringContaining('src/routes/+page.svelte: "sendMesage" is not exported by $live/talk (it exports: sendMessage, messages); did you mean "sendMessage"?'),
    ]);
    // In a build the same problem fails the build with that message.
    main.config({}, { command: 'build' });
    await expect(check.transform.call({ error: (m) => { throw new Error(m); } }, code, join(root, 'src', 'x.js'))).rejects.toThrow(/did you mean "sendMessage"/);
  });
});
