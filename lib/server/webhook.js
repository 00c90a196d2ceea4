// `live.webhook(topic, { verify, transform })`: turns an incoming HTTP webhook into a publish.
// `handle({ body, headers, platform })` resolves `{ status, body }` for the endpoint to
// return. `verify` may be async (reference bug §9.21: a rejection escaped); a throwing
// `transform` answers 500 instead of rejecting.

import { mark } from './meta.js';

export function webhook(topic, { verify, transform } = {}) {
  if (typeof topic !== 'string' || !topic) throw new TypeError('live.webhook: topic must be a non-empty string');
  for (const [name, fn] of [['verify', verify], ['transform', transform]]) {
    if (fn !== undefined && typeof fn !== 'function') throw new TypeError(`live.webhook: ${name} must be a function`);
  }
  const hook = () => {
    throw new TypeError('a live.webhook is not callable over the WebSocket; call .handle() from an endpoint');
  };
  hook.handle = async ({ body, headers, platform } = {}) => {
    let event;
    try {
      event = verify ? await verify({ body, headers }) : body;
    } catch {
      return { status: 400, body: 'Verification failed' };
    }
    let mapped;
    try {
      mapped = transform ? await transform(event) : event;
    } catch (error) {
      console.error(`[svelte-realtime] webhook ${topic} transform threw:`, error);
      return { status: 500, body: 'Transform failed' };
    }
    if (!mapped) return { status: 200, body: 'Ignored' };
    platform?.publish(topic, mapped.event, mapped.data);
    return { status: 200, body: 'OK' };
  };
  return mark(hook, { kind: 'webhook', topic });
}
