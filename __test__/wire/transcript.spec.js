// The reference client's frames, replayed over a real socket against the native runtime
// with svelte-realtime/server: every server frame must match byte for byte.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { close, createMessage, live, LiveError, Registry } from '../../lib/server/index.js';
import { connect, start } from '../helpers.js';

const transcript = JSON.parse(readFileSync(new URL('./transcript.json', import.meta.url), 'utf8'));

const rows = [{ id: 1, text: 'hello' }];
const chat = {
  messages: live.stream('messages', () => rows.slice(), { merge: 'crud', key: 'id', prepend: true }),
  sendMessage: live((ctx, text) => {
    if (text === '') throw new LiveError('VALIDATION', 'Validation failed', { issues: [{ path: [], message: 'text must not be empty' }] });
    const msg = { id: rows.length + 1, text };
    rows.push(msg);
    ctx.publish('messages', 'created', msg);
    return msg;
  }),
  noop: live(() => undefined),
  history: live.stream('history', (ctx) => ({ data: [{ id: ctx.cursor }], hasMore: false, cursor: ctx.cursor + 1 })),
  upload: live.binary((ctx, buf, name) => `${name}:${buf.byteLength}`),
};

describe('wire compatibility: the reference client transcript', () => {
  let server;
  let client;
  beforeAll(async () => {
    const registry = new Registry();
    registry.registerModule('chat', chat);
    server = await start({ hooks: { message: createMessage({ registry }), close } });
    client = await connect(server.wsUrl);
  });
  afterAll(() => server.close());

  it('answers every frame byte for byte', async () => {
    for (const [i, step] of transcript.steps.entries()) {
      const where = `step ${i}${step.note ? ` (${step.note})` : ''}`;
      if (step.send) client.send(step.send);
      if (step.binary) client.send(Buffer.from(step.binary, 'hex'));
      if (step.publish) server.platform.publish(step.publish.topic, step.publish.event, step.publish.data);
      if (step.expect) expect(await client.next(), where).toBe(step.expect);
      if (step.silent) await expect(client.next(step.silent), where).rejects.toThrow('no message');
    }
  });
});
