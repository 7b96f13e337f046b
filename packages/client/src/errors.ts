import type { ErrorBody } from './types.js';

/**
 * A request failed. `code` is a protocol.md §6 code sent by the server, or one of the
 * client-local codes `timeout` (no reply in time) and `closed` (the socket closed first).
 */
export class ParleyRequestError extends Error {
  readonly code: string;
  readonly retryAfterMs?: number;
  /** The request id the error answers (null for the server's `"id":null` errors). */
  readonly id: string | null;

  constructor(body: ErrorBody, id: string | null = null) {
    super(body.message);
    this.name = 'ParleyRequestError';
    this.code = body.code;
    this.id = id;
    if (typeof body.retryAfterMs === 'number') this.retryAfterMs = body.retryAfterMs;
  }
}

/** An HTTP route answered with a non-2xx status. */
export class ParleyHttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly body: unknown;

  constructor(status: number, code: string, message: string, body: unknown) {
    super(message);
    this.name = 'ParleyHttpError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** The WebSocket upgrade was refused (status is the HTTP status, e.g. 401), or the socket closed before `session.ready`. */
export class ParleyConnectError extends Error {
  readonly status?: number;
  readonly closeCode?: number;
  readonly body?: string;

  constructor(message: string, opts: { status?: number; closeCode?: number; body?: string } = {}) {
    super(message);
    this.name = 'ParleyConnectError';
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.closeCode !== undefined) this.closeCode = opts.closeCode;
    if (opts.body !== undefined) this.body = opts.body;
  }
}
