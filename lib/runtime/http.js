// The bridge from HTTP requests the server hands over to a fetch-style handler:
// `(request: Request, { platform, getClientAddress }) => Response | Promise<Response>`.
//
// Both bodies stream. The request body arrives in chunks (the server stops it and answers
// itself: 413 past `bodySizeLimit`, 400 for broken framing, 408 past `bodyReadTimeout` or
// `requestTimeout`; the handler's later answer is ignored); the response body goes back chunk by chunk,
// waiting for the server's drain signal when its queue is full. A response whose body is a
// single chunk goes out whole, with Content-Length.

const encoder = new TextEncoder();

/** What a request body stream errors with when the server stopped it. */
const BODY_ERRORS = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large' };

/** The server no longer wants this response (client left, or it answered 4xx itself). */
class Gone extends Error {}

/**
 * @param {{
 *   getNative: () => import('../../index.js').NativeServer,
 *   handler: ((request: Request, ctx: object) => Response | Promise<Response>) | undefined,
 *   platform: object,
 *   origin: string | undefined,
 *   log: Pick<Console, 'error'>,
 * }} options
 */
export function createHttpBridge({ getNative, handler, platform, origin, log }) {
  /** id → { abort: AbortController, body: ReadableStreamDefaultController | null, drain: (() => void) | null, gone: boolean } */
  const requests = new Map();

  function headersOf(response) {
    const flat = [];
    for (const [name, value] of response.headers) {
      if (name !== 'set-cookie') flat.push(name, value);
    }
    for (const cookie of response.headers.getSetCookie()) flat.push('set-cookie', cookie);
    return flat;
  }

  const bytesOf = (chunk) => (typeof chunk === 'string' ? encoder.encode(chunk) : chunk);

  async function write(id, entry, chunk) {
    if (entry.gone) throw new Gone();
    const status = getNative().respondChunk(id, bytesOf(chunk));
    if (status === 2) throw new Gone();
    if (status === 1) {
      await new Promise((resolve) => (entry.drain = resolve));
      entry.drain = null;
      if (entry.gone) throw new Gone();
    }
  }

  async function respond(id, entry, request, remoteAddress) {
    const response = await handler(request, { platform, getClientAddress: () => remoteAddress });
    if (!(response instanceof Response)) throw new TypeError('the HTTP handler must return a Response');
    const native = getNative();
    const headers = headersOf(response);
    const reader = response.body?.getReader();
    if (!reader) return void native.respondHttp(id, response.status, headers, new Uint8Array(0));
    const first = await reader.read();
    if (first.done) return void native.respondHttp(id, response.status, headers, new Uint8Array(0));
    const second = await reader.read();
    if (second.done) return void native.respondHttp(id, response.status, headers, bytesOf(first.value));
    if (!native.respondHead(id, response.status, headers)) return void reader.cancel();
    try {
      await write(id, entry, first.value);
      await write(id, entry, second.value);
      for (;;) {
        const next = await reader.read();
        if (next.done) break;
        await write(id, entry, next.value);
      }
      native.respondEnd(id);
    } catch (error) {
      reader.cancel().catch(() => {});
      if (!(error instanceof Gone)) {
        log.error('[svelte-realtime] HTTP response stream failed:', error);
        native.respondEnd(id);
      }
    }
  }

  function fail(id, error) {
    log.error('[svelte-realtime] HTTP handler failed:', error);
    getNative().respondHttp(id, 500, ['content-type', 'text/plain'], 'Internal Server Error');
  }

  return {
    /**
     * @param {number} id
     * @param {{ method: string, url: string, headers: Record<string, string>, remoteAddress: string }} head
     * @param {boolean} hasBody chunks follow
     */
    request(id, head, hasBody) {
      const entry = { abort: new AbortController(), body: null, drain: null, gone: false };
      requests.set(id, entry);
      let request;
      try {
        const base =
          typeof origin === 'function' ? origin(head.headers) : (origin ?? `http://${head.headers.host ?? 'localhost'}`);
        const takesBody = hasBody && head.method !== 'GET' && head.method !== 'HEAD';
        const body = takesBody
          ? new ReadableStream({
              start(controller) {
                entry.body = controller;
              },
            })
          : undefined;
        request = new Request(new URL(head.url, base), {
          method: head.method,
          headers: head.headers,
          body,
          duplex: 'half',
          signal: entry.abort.signal,
        });
      } catch (error) {
        requests.delete(id);
        getNative().respondHttp(id, 400, ['content-type', 'text/plain'], 'Bad Request');
        log.error('[svelte-realtime] could not build the Request:', error);
        return;
      }
      respond(id, entry, request, head.remoteAddress)
        .catch((error) => fail(id, error))
        .finally(() => requests.delete(id));
    },

    /** A chunk of a request body. */
    body(id, chunk) {
      requests.get(id)?.body?.enqueue(chunk);
    },

    /** The request body ended: 0 complete, 413 too large, 400 broken, 408 too slow. */
    bodyEnd(id, code) {
      const controller = requests.get(id)?.body;
      if (!controller) return;
      if (code === 0) controller.close();
      else controller.error(new Error(BODY_ERRORS[code] ?? 'Bad Request'));
    },

    /** The response queue has room again. */
    drain(id) {
      requests.get(id)?.drain?.();
    },

    /** The client left: abort the Request's signal and stop the response. */
    abort(id) {
      const entry = requests.get(id);
      if (!entry) return;
      entry.gone = true;
      entry.abort.abort();
      try {
        entry.body?.error(new Error('Client went away'));
      } catch {
        // the body was already closed
      }
      entry.drain?.();
    },
  };
}
