// What `node build` runs (the adapter's `build/index.js` calls `start`): SvelteKit's server
// on the native runtime. Static and prerendered files are answered by Rust; everything else
// goes to `server.respond()` with the runtime's platform as `event.platform`; the WebSocket
// runs the app's `src/hooks.ws.js` and its live modules.

import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { serve } from '../runtime/index.js';
import { workerAttachment } from '../runtime/workers.js';
import { readEnv } from './env.js';

const importFile = (file) => import(pathToFileURL(file).href);

/** The request origin from proxy headers, as adapter-node computes it. */
function originResolver(env) {
  if (env.origin) return env.origin;
  return (headers) => {
    let protocol = 'http';
    if (env.protocolHeader) {
      const value = decodeURIComponent(headers[env.protocolHeader] ?? 'http').split(',')[0].trim();
      if (value !== 'http' && value !== 'https') {
        throw new Error(`The ${env.protocolHeader} header specified ${value} which is an invalid protocol`);
      }
      protocol = value;
    }
    let host = (env.hostHeader && headers[env.hostHeader]) || headers.host || 'localhost';
    if (env.portHeader && headers[env.portHeader]) host = `${host.replace(/:\d+$/, '')}:${headers[env.portHeader]}`;
    return `${protocol}://${host}`;
  };
}

function clientAddress(env, request, socketAddress) {
  return addressFrom(env, (name) => request.headers.get(name), socketAddress);
}

/** adapter-node's rule: ADDRESS_HEADER, and for x-forwarded-for the XFF_DEPTH-th from the right. */
function addressFrom(env, header, socketAddress) {
  if (!env.addressHeader) return socketAddress();
  const value = header(env.addressHeader);
  if (!value) throw new Error(`Address header was specified with ADDRESS_HEADER=${env.addressHeader} but is absent from request`);
  if (env.addressHeader !== 'x-forwarded-for') return value;
  const addresses = value.split(',');
  if (env.xffDepth > addresses.length) {
    throw new Error(`XFF_DEPTH specified as ${env.xffDepth}, but only found ${addresses.length} addresses`);
  }
  return addresses[addresses.length - env.xffDepth].trim();
}

/**
 * @param {{ dir: string, options: { envPrefix?: string, healthCheckPath?: string | false, websocket?: object } }} input
 */
export async function start({ dir, options = {} }) {
  const env = readEnv(options.envPrefix ?? '');
  // A worker thread of CLUSTER_WORKERS (started below by the main thread): the same app,
  // attached to the main thread's server.
  const attach = workerAttachment();
  const { Server } = await importFile(join(dir, 'server', 'index.js'));
  const { manifest, base } = await importFile(join(dir, 'server', 'manifest.js'));
  const server = new Server(manifest);
  await server.init({
    env: process.env,
    read: (file) => Readable.toWeb(createReadStream(join(dir, 'client', file))),
  });

  // Live modules register after init, so they may read $env/dynamic/private.
  const registry = join(dir, 'server', 'svelte-realtime', 'registry.js');
  const registered = existsSync(registry) ? (await importFile(registry)).modules : [];
  const hooksFile = join(dir, 'server', 'svelte-realtime', 'hooks.ws.js');
  const websocket = options.websocket;
  const hooks = websocket !== false && existsSync(hooksFile) ? await importFile(hooksFile) : {};
  if (websocket === false) {
    if (registered.length > 0) {
      console.warn('[svelte-realtime] adapter({ websocket: false }): live modules exist, but without a WebSocket endpoint only their SSR .load() works.');
    }
  } else if (!existsSync(hooksFile) && registered.length > 0) {
    console.warn(
      '[svelte-realtime] src/hooks.ws.js is missing: live modules exist but no message hook ' +
        "handles RPCs. Add `export { message, close } from 'svelte-realtime/server';` to it.",
    );
  } else if (registered.length > 0 && typeof hooks.message !== 'function') {
    console.warn('[svelte-realtime] src/hooks.ws.js exports no message hook: RPCs will not be answered.');
  }

  const immutable = `${base}/${manifest.appPath}/immutable/`;
  const runtime = await serve({
    attach: attach ?? undefined,
    host: env.host,
    port: env.port,
    hooks,
    websocket,
    healthCheckPath: options.healthCheckPath ?? '/healthz',
    bodySizeLimit: env.bodySizeLimit,
    shutdownTimeout: env.shutdownTimeout,
    origin: originResolver(env),
    protocolHeader: env.protocolHeader,
    hostHeader: env.hostHeader,
    portHeader: env.portHeader,
    staticFiles: {
      dirs: [
        { path: join(dir, 'client'), base: '/' },
        { path: join(dir, 'prerendered'), base: '/', prerendered: true },
      ],
      immutablePrefix: immutable,
    },
    // WebSockets get the same address as HTTP requests (rate limits keyed by 'ip').
    clientAddress: env.addressHeader
      ? (headers, socketAddress) => addressFrom(env, (name) => headers[name], () => socketAddress)
      : undefined,
    fetch: (request, { platform, getClientAddress }) =>
      server.respond(request, {
        platform,
        getClientAddress: () => clientAddress(env, request, getClientAddress),
      }),
  });
  if (attach) return runtime;
  if (env.clusterWorkers > 1) {
    const workers = runtime.spawnWorkers(new URL('./worker.js', import.meta.url), env.clusterWorkers, {
      workerData: { dir, options },
    });
    try {
      await workers.ready(30_000);
      console.log(`Listening on ${runtime.url} with ${env.clusterWorkers} JavaScript threads`);
    } catch (error) {
      // Keep serving on the threads that run; the failing ones keep being restarted.
      console.error(`[svelte-realtime] ${error.message}`);
      console.log(`Listening on ${runtime.url} with ${1 + workers.size} of ${env.clusterWorkers} JavaScript threads`);
    }
  } else {
    console.log(`Listening on ${runtime.url}`);
  }
  return runtime;
}
