// LiveError: the error type whose code and message reach the client.

/** An expected error: its `code`, `message` and `issues` are sent to the client as is. */
export class LiveError extends Error {
  /**
   * @param {string} code e.g. 'UNAUTHORIZED', 'FORBIDDEN', 'VALIDATION'
   * @param {string} [message] defaults to the code
   * @param {{ issues?: Array<{ path: Array<string | number>, message: string }> }} [extra]
   */
  constructor(code, message, extra) {
    super(message ?? code);
    this.name = 'LiveError';
    this.code = String(code);
    if (extra?.issues) this.issues = extra.issues;
  }
}

/** Error codes the server itself uses (reference-protocol §4.8). */
export const CODES = Object.freeze({
  INVALID_REQUEST: 'INVALID_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  FORBIDDEN: 'FORBIDDEN',
  INTERNAL_ERROR: 'INTERNAL_ERROR',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  CONNECTION_CLOSED: 'CONNECTION_CLOSED',
  RATE_LIMITED: 'RATE_LIMITED',
  VALIDATION: 'VALIDATION',
});
