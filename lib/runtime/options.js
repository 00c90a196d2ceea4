// Options of `serve()`: defaults and validation in one place. The defaults mirror
// `ServerConfig::default()` in crates/realtime-core/src/config.rs and the `@default` tags in
// lib/runtime/index.d.ts.

export const DEFAULTS = Object.freeze({
  host: '0.0.0.0',
  port: 3000,
  workers: 0,
  engine: 'auto',
  shutdownTimeout: 30,
  headerReadTimeout: 10,
  bodyReadTimeout: 10,
  requestTimeout: 300,
  bodySizeLimit: 512 * 1024,
  healthCheckPath: '/healthz',
  signals: true,
  websocket: Object.freeze({
    path: '/ws',
    maxPayloadLength: 16 * 1024,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    maxBackpressure: 1024 * 1024,
    closeOnBackpressureLimit: false,
    maxConnections: 100_000,
    upgradeTimeout: 10,
    allowedOrigins: 'same-origin',
  }),
});

const WEBSOCKET_KEYS = new Set(Object.keys(DEFAULTS.websocket));
const TOP_KEYS = new Set([
  ...Object.keys(DEFAULTS),
  'hooks',
  'fetch',
  'clientAddress',
  'log',
  'origin',
  'protocolHeader',
  'hostHeader',
  'portHeader',
  'headerReadTimeout',
  'bodyReadTimeout',
  'requestTimeout',
  'inboundQueueBytes',
  'staticFiles',
  'dev',
]);

/** Where the sockets run: `auto` (inline on machines with at most 2 cores), `inline`, `threads`. */
const ENGINES = ['auto', 'inline', 'threads'];
function engineOf(value) {
  if (!ENGINES.includes(value)) fail(`engine must be one of ${ENGINES.join(', ')}, got ${String(value)}`);
  return value;
}

function fail(message) {
  throw new TypeError(`svelte-realtime: ${message}`);
}

function number(name, value, { min = 0, integer = false, infinity = false } = {}) {
  if (value === Infinity && infinity) return value;
  if (typeof value !== 'number' || Number.isNaN(value) || !Number.isFinite(value)) {
    fail(`${name} must be a number, got ${String(value)}`);
  }
  if (integer && !Number.isInteger(value)) fail(`${name} must be an integer, got ${value}`);
  if (value < min) fail(`${name} must be at least ${min}, got ${value}`);
  return value;
}

function headerName(name, value) {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)) {
    fail(`${name} must be an HTTP header name, got ${String(value)}`);
  }
  return value.toLowerCase();
}

function staticFilesOf(value) {
  if (value === undefined) return undefined;
  if (!value || !Array.isArray(value.dirs)) fail('staticFiles must be { dirs: [{ path, base?, prerendered? }], immutablePrefix? }');
  return {
    dirs: value.dirs.map((dir, i) => {
      if (typeof dir?.path !== 'string') fail(`staticFiles.dirs[${i}].path must be a string`);
      return { path: dir.path, base: dir.base ?? '/', prerendered: Boolean(dir.prerendered) };
    }),
    immutablePrefix: value.immutablePrefix,
  };
}

/**
 * Validates user options and fills in defaults.
 * @param {import('./index.js').ServeOptions} options
 */
export function normalizeOptions(options = {}) {
  if (typeof options !== 'object' || options === null) fail('options must be an object');
  for (const key of Object.keys(options)) {
    if (!TOP_KEYS.has(key)) fail(`unknown option "${key}"`);
  }
  if (options.websocket !== undefined && options.websocket !== false && (typeof options.websocket !== 'object' || options.websocket === null)) {
    fail('websocket must be an object of options, or false for no WebSocket endpoint');
  }
  const enabled = options.websocket !== false;
  const ws = options.websocket || {};
  for (const key of Object.keys(ws)) {
    if (!WEBSOCKET_KEYS.has(key)) fail(`unknown websocket option "${key}"`);
  }
  const pick = (key) => (options[key] === undefined ? DEFAULTS[key] : options[key]);
  const pickWs = (key) => (ws[key] === undefined ? DEFAULTS.websocket[key] : ws[key]);

  const path = pickWs('path');
  if (typeof path !== 'string' || !path.startsWith('/')) {
    fail(`websocket.path must start with "/", got ${String(path)}`);
  }
  const origins = pickWs('allowedOrigins');
  if (
    origins !== '*' &&
    origins !== 'same-origin' &&
    !(Array.isArray(origins) && origins.every((o) => typeof o === 'string'))
  ) {
    fail(`websocket.allowedOrigins must be 'same-origin', '*' or an array of origins`);
  }
  const idleTimeout = number('websocket.idleTimeout', pickWs('idleTimeout'));
  if (idleTimeout !== 0 && idleTimeout < 1) {
    fail(`websocket.idleTimeout must be 0 (disabled) or at least 1 second, got ${idleTimeout}`);
  }
  const healthCheckPath = pick('healthCheckPath');
  if (healthCheckPath !== false && (typeof healthCheckPath !== 'string' || !healthCheckPath.startsWith('/'))) {
    fail(`healthCheckPath must be a path starting with "/" or false`);
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    fail('fetch must be a function (request, { platform, getClientAddress }) => Response');
  }
  if (options.clientAddress !== undefined && typeof options.clientAddress !== 'function') {
    fail('clientAddress must be a function (headers, socketAddress) => string');
  }
  const log = options.log ?? console;
  for (const method of ['info', 'warn', 'error']) {
    if (typeof log[method] !== 'function') fail(`log.${method} must be a function`);
  }

  return {
    host: String(pick('host')),
    port: number('port', pick('port'), { integer: true }),
    workers: number('workers', pick('workers'), { integer: true }),
    engine: engineOf(pick('engine')),
    shutdownTimeout: number('shutdownTimeout', pick('shutdownTimeout')),
    bodySizeLimit: number('bodySizeLimit', pick('bodySizeLimit'), { infinity: true }),
    headerReadTimeout: number('headerReadTimeout', pick('headerReadTimeout'), { min: 0.001 }),
    bodyReadTimeout: number('bodyReadTimeout', pick('bodyReadTimeout')),
    requestTimeout: number('requestTimeout', pick('requestTimeout')),
    inboundQueueBytes: number('inboundQueueBytes', options.inboundQueueBytes ?? 64 * 1024 * 1024, { min: 1 }),
    healthCheckPath,
    signals: Boolean(pick('signals')),
    hooks: options.hooks,
    fetch: options.fetch,
    clientAddress: options.clientAddress,
    staticFiles: staticFilesOf(options.staticFiles),
    origin:
      options.origin === undefined || typeof options.origin === 'function'
        ? options.origin
        : new URL(String(options.origin)).origin,
    protocolHeader: headerName('protocolHeader', options.protocolHeader),
    hostHeader: headerName('hostHeader', options.hostHeader),
    portHeader: headerName('portHeader', options.portHeader),
    log,
    dev: Boolean(options.dev),
    websocket: {
      enabled,
      path,
      maxPayloadLength: number('websocket.maxPayloadLength', pickWs('maxPayloadLength'), { min: 1, integer: true }),
      idleTimeout,
      sendPingsAutomatically: Boolean(pickWs('sendPingsAutomatically')),
      maxBackpressure: number('websocket.maxBackpressure', pickWs('maxBackpressure'), { min: 1, integer: true }),
      closeOnBackpressureLimit: Boolean(pickWs('closeOnBackpressureLimit')),
      maxConnections: number('websocket.maxConnections', pickWs('maxConnections'), { min: 1, integer: true }),
      upgradeTimeout: number('websocket.upgradeTimeout', pickWs('upgradeTimeout')),
      allowedOrigins: origins,
    },
  };
}

/**
 * Same-origin means "the app's origin". When the app states it (`origin`, the adapter's
 * `ORIGIN`), that is the one allowed: behind a TLS proxy the Host and scheme the server sees
 * would never match the browser's `https://` Origin.
 */
function allowedOrigins(policy, origin) {
  return policy === 'same-origin' && typeof origin === 'string' ? [origin] : policy;
}

/** The options object the addon's constructor takes. */
export function nativeOptions(opts, hooks) {
  const ws = opts.websocket;
  return {
    websocket: ws.enabled,
    host: opts.host,
    port: opts.port,
    workers: opts.workers,
    engine: opts.engine,
    path: ws.path,
    maxPayloadLength: ws.maxPayloadLength,
    idleTimeout: ws.idleTimeout,
    sendPingsAutomatically: ws.sendPingsAutomatically,
    maxBackpressure: ws.maxBackpressure,
    closeOnBackpressureLimit: ws.closeOnBackpressureLimit,
    maxConnections: ws.maxConnections,
    upgradeTimeout: ws.upgradeTimeout,
    headerReadTimeout: opts.headerReadTimeout,
    bodyReadTimeout: opts.bodyReadTimeout,
    requestTimeout: opts.requestTimeout,
    allowedOrigins: allowedOrigins(ws.allowedOrigins, opts.origin),
    protocolHeader: opts.protocolHeader,
    hostHeader: opts.hostHeader,
    portHeader: opts.portHeader,
    bodySizeLimit: opts.bodySizeLimit,
    healthCheckPath: opts.healthCheckPath,
    inboundQueueBytes: opts.inboundQueueBytes,
    staticFiles: opts.staticFiles,
    hooks: {
      upgrade: typeof hooks.upgrade === 'function',
      subscribe: typeof hooks.subscribe === 'function',
      drain: typeof hooks.drain === 'function',
      http: typeof opts.fetch === 'function',
    },
  };
}
