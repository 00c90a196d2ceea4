// RpcError: how a failed call or stream reaches components.

export class RpcError extends Error {
  /**
   * @param {string} code e.g. 'VALIDATION', 'TIMEOUT', 'DISCONNECTED'
   * @param {string} message
   * @param {Array<{ path: Array<string | number>, message: string }>} [issues]
   */
  constructor(code, message, issues) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    if (issues !== undefined) this.issues = issues;
  }
}

/** The RpcError for a `{ ok: false, code, error, issues }` payload. */
export function errorFrom(payload) {
  const error = new RpcError(payload?.code || 'UNKNOWN', payload?.error || 'Unknown error', payload?.issues);
  // RATE_LIMITED answers say when to retry (ms).
  if (typeof payload?.retryAfter === 'number') error.retryAfter = payload.retryAfter;
  return error;
}
