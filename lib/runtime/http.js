// The bridge from HTTP requests the server hands over to a fetch-style handler:
// `(request: Request, { platform, getClientAddress }) => Response | Promise<Response>`.
// Request bodies arrive whole (the server enforces `bodySizeLimit`); the response body is
// read whole and handed back. Streaming both ways comes with the SvelteKit adapter.

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
  /** Abort controllers of requests in flight, by id. */
  const inFlight = new Map();

  function fail(id, error) {
    log.error('[svelte-realtime] HTTP handler failed:', error);
    getNative().respondHttp(id, 500, ['content-type', 'text/plain'], 'Internal Server Error');
  }

  async function respond(id, request, remoteAddress) {
    const response = await handler(request, {
      platform,
      getClientAddress: () => remoteAddress,
    });
    if (!(response instanceof Response)) {
      throw new TypeError('the HTTP handler must return a Response');
    }
    const headers = [];
    for (const [name, value] of response.headers) {
      if (name === 'set-cookie') continue;
      headers.push(name, value);
    }
    for (const cookie of response.headers.getSetCookie()) headers.push('set-cookie', cookie);
    const body = new Uint8Array(await response.arrayBuffer());
    getNative().respondHttp(id, response.status, headers, body);
  }

  return {
    /**
     * @param {number} id
     * @param {{ method: string, url: string, headers: Record<string, string>, remoteAddress: string }} head
     * @param {Uint8Array} body
     */
    request(id, head, body) {
      const controller = new AbortController();
      inFlight.set(id, controller);
      let request;
      try {
        const base = origin ?? `http://${head.headers.host ?? 'localhost'}`;
        const hasBody = head.method !== 'GET' && head.method !== 'HEAD';
        request = new Request(new URL(head.url, base), {
          method: head.method,
          headers: head.headers,
          body: hasBody ? body : undefined,
          signal: controller.signal,
        });
      } catch (error) {
        inFlight.delete(id);
        getNative().respondHttp(id, 400, ['content-type', 'text/plain'], 'Bad Request');
        log.error('[svelte-realtime] could not build the Request:', error);
        return;
      }
      respond(id, request, head.remoteAddress)
        .catch((error) => fail(id, error))
        .finally(() => inFlight.delete(id));
    },

    /** The client left: abort the Request's signal. */
    abort(id) {
      inFlight.get(id)?.abort();
      inFlight.delete(id);
    },
  };
}
