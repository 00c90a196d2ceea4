// The environment variables adapter-node users know, read once at startup with the
// configured prefix. Invalid values fail at startup with the variable's name.

import { availableParallelism } from 'node:os';
import { workerCount } from '../runtime/workers.js';

const NAMES = [
  'HOST',
  'PORT',
  'ORIGIN',
  'PROTOCOL_HEADER',
  'HOST_HEADER',
  'PORT_HEADER',
  'ADDRESS_HEADER',
  'XFF_DEPTH',
  'BODY_SIZE_LIMIT',
  'SHUTDOWN_TIMEOUT',
  'CLUSTER_WORKERS',
];

/** `512K`, `1M`, `2G`, `100B`, `Infinity` → bytes. */
export function parseBytes(value) {
  if (value === 'Infinity') return Infinity;
  const match = /^(\d+(?:\.\d+)?)\s*([KMG]?)B?$/i.exec(String(value).trim());
  if (!match) return NaN;
  const multiplier = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2].toUpperCase()];
  return Math.floor(Number(match[1]) * multiplier);
}

/**
 * @param {string} prefix
 * @param {Record<string, string | undefined>} [source]
 */
export function readEnv(prefix = '', source = process.env) {
  if (prefix) {
    for (const name of Object.keys(source)) {
      if (name.startsWith(prefix) && !NAMES.includes(name.slice(prefix.length))) {
        throw new Error(
          `You should change envPrefix (${prefix}) to avoid conflicts with existing environment variables — unexpectedly saw ${name}`,
        );
      }
    }
  }
  const get = (name, fallback) => source[prefix + name] ?? fallback;
  const fail = (name, why) => {
    throw new Error(`${prefix}${name}: ${why}`);
  };

  const port = Number(get('PORT', '3000'));
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('PORT', `expected a port number, got ${get('PORT')}`);
  let origin;
  if (get('ORIGIN')) {
    let url;
    try {
      url = new URL(get('ORIGIN'));
    } catch {
      fail('ORIGIN', `expected an http(s) origin, got ${get('ORIGIN')}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('ORIGIN', `expected http or https, got ${url.protocol}`);
    origin = url.origin;
  }
  const xffDepth = Number(get('XFF_DEPTH', '1'));
  if (!Number.isInteger(xffDepth) || xffDepth < 1) fail('XFF_DEPTH', `expected a positive integer, got ${get('XFF_DEPTH')}`);
  const bodySizeLimit = parseBytes(get('BODY_SIZE_LIMIT', '512K'));
  if (Number.isNaN(bodySizeLimit)) fail('BODY_SIZE_LIMIT', `expected a size like 512K, 1M or Infinity, got ${get('BODY_SIZE_LIMIT')}`);
  const shutdownTimeout = Number(get('SHUTDOWN_TIMEOUT', '30'));
  if (!Number.isFinite(shutdownTimeout) || shutdownTimeout < 0) fail('SHUTDOWN_TIMEOUT', `expected seconds, got ${get('SHUTDOWN_TIMEOUT')}`);
  const lower = (name) => get(name)?.toLowerCase();
  let clusterWorkers;
  try {
    clusterWorkers = workerCount(get('CLUSTER_WORKERS'), availableParallelism());
  } catch {
    fail('CLUSTER_WORKERS', `expected a number of JavaScript threads (1-65) or auto, got ${get('CLUSTER_WORKERS')}`);
  }
  return {
    host: get('HOST', '0.0.0.0'),
    port,
    origin,
    protocolHeader: lower('PROTOCOL_HEADER'),
    hostHeader: lower('HOST_HEADER'),
    portHeader: lower('PORT_HEADER'),
    addressHeader: lower('ADDRESS_HEADER'),
    xffDepth,
    bodySizeLimit,
    shutdownTimeout,
    clusterWorkers,
  };
}
