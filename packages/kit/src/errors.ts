// One error type with the stable codes of protocol.md §6, and the mappings to gRPC, HTTP and the wire.
import type { Logger } from 'pino';
import { isTransientCassandraError } from './cassandra-errors.js';
import { isTransientKafkaError } from './kafka-errors.js';
import { isTransientRedisError } from './redis-errors.js';

export const ERROR_CODES = [
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_member',
  'not_found',
  'username_taken',
  'conflict',
  'too_large',
  'rate_limited',
  'unavailable',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && (ERROR_CODES as readonly string[]).includes(v);
}

export interface ParleyErrorOptions {
  retryAfterMs?: number;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class ParleyError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterMs?: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: ParleyErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ParleyError';
    this.code = code;
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
    if (opts.details !== undefined) this.details = opts.details;
  }
}

/** Shorthands: `errors.notFound('no such chat')`. */
export const errors = {
  badRequest: (m: string, d?: Record<string, unknown>) => new ParleyError('bad_request', m, d ? { details: d } : {}),
  unauthorized: (m = 'unauthorized') => new ParleyError('unauthorized', m),
  forbidden: (m = 'forbidden') => new ParleyError('forbidden', m),
  notMember: (m = 'not a member of this chat') => new ParleyError('not_member', m),
  notFound: (m = 'not found') => new ParleyError('not_found', m),
  usernameTaken: (m = 'username is taken') => new ParleyError('username_taken', m),
  conflict: (m: string) => new ParleyError('conflict', m),
  tooLarge: (m: string) => new ParleyError('too_large', m),
  rateLimited: (retryAfterMs: number, m = 'rate limited') => new ParleyError('rate_limited', m, { retryAfterMs }),
  unavailable: (m = 'service unavailable, retry', cause?: unknown) => new ParleyError('unavailable', m, { cause }),
  internal: (m = 'internal error', cause?: unknown) => new ParleyError('internal', m, { cause }),
};

/** gRPC status numbers (grpc.status), kept here so business code never imports grpc-js. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const toGrpc: Record<ErrorCode, number> = {
  bad_request: GrpcStatus.INVALID_ARGUMENT,
  unauthorized: GrpcStatus.UNAUTHENTICATED,
  forbidden: GrpcStatus.PERMISSION_DENIED,
  not_member: GrpcStatus.PERMISSION_DENIED,
  not_found: GrpcStatus.NOT_FOUND,
  username_taken: GrpcStatus.ALREADY_EXISTS,
  conflict: GrpcStatus.ABORTED,
  too_large: GrpcStatus.OUT_OF_RANGE,
  rate_limited: GrpcStatus.RESOURCE_EXHAUSTED,
  unavailable: GrpcStatus.UNAVAILABLE,
  internal: GrpcStatus.INTERNAL,
};

export function grpcStatusFor(code: ErrorCode): number {
  return toGrpc[code];
}

/** When a gRPC error carries no parley code (transport failures, other servers), pick one from the status. */
export function codeForGrpcStatus(status: number): ErrorCode {
  switch (status) {
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return 'bad_request';
    case GrpcStatus.UNAUTHENTICATED:
      return 'unauthorized';
    case GrpcStatus.PERMISSION_DENIED:
      return 'forbidden';
    case GrpcStatus.NOT_FOUND:
      return 'not_found';
    case GrpcStatus.ALREADY_EXISTS:
    case GrpcStatus.ABORTED:
    case GrpcStatus.FAILED_PRECONDITION:
      return 'conflict';
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return 'rate_limited';
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
    case GrpcStatus.UNIMPLEMENTED:
    case GrpcStatus.CANCELLED:
      return 'unavailable';
    default:
      return 'internal';
  }
}

/**
 * The peer does not have this method (UNIMPLEMENTED): an older version of the service, mid rolling upgrade.
 * Callers of a batched method fall back to its unary form per item.
 */
export function isUnimplemented(err: unknown): boolean {
  const cause = err instanceof ParleyError ? (err.cause as { code?: unknown } | undefined) : (err as { code?: unknown } | undefined);
  return cause?.code === GrpcStatus.UNIMPLEMENTED;
}

const toHttp: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_member: 403,
  not_found: 404,
  username_taken: 409,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

export function httpStatusFor(code: ErrorCode): number {
  return toHttp[code];
}

export interface WireError {
  code: ErrorCode;
  message: string;
  retryAfterMs?: number;
}

/**
 * The one place an error becomes client-visible. Unknown errors become `internal`, are logged with
 * their stack, and never leak details.
 */
export function toWireError(err: unknown, logger?: Pick<Logger, 'error'>): WireError {
  if (err instanceof ParleyError) {
    if (err.code === 'internal') logger?.error({ err }, 'internal error');
    const w: WireError = { code: err.code, message: err.code === 'internal' ? 'internal error' : err.message };
    if (err.retryAfterMs !== undefined) w.retryAfterMs = err.retryAfterMs;
    return w;
  }
  const pe = asParleyError(err);
  logger?.error({ err }, pe.code === 'internal' ? 'unexpected error' : 'store unavailable');
  return { code: pe.code, message: pe.message };
}

/** Node's own socket failures, whichever driver's connection they come from. */
function isTransientSocketError(err: Error): boolean {
  return /ECONNREFUSED|ECONNRESET|EPIPE|Connection timeout/i.test(err.message);
}

/**
 * Errors that say a store (Cassandra, Redis, Kafka) is unreachable or overloaded, not that the request is
 * wrong: the caller should retry, so they surface as `unavailable`, never `internal`. Each driver's errors
 * are classified beside its adapter (cassandra-errors.ts, redis-errors.ts, kafka-errors.ts); this composes them.
 */
export function isTransientStoreError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return isTransientCassandraError(err) || isTransientRedisError(err) || isTransientKafkaError(err) || isTransientSocketError(err);
}

/** Wraps anything into a ParleyError: transient store failures → unavailable, anything else → internal (cause kept for logs). */
export function asParleyError(err: unknown): ParleyError {
  if (err instanceof ParleyError) return err;
  if (isTransientStoreError(err)) return new ParleyError('unavailable', 'a store is unavailable or overloaded, retry', { cause: err });
  return new ParleyError('internal', 'internal error', { cause: err });
}

/** The protocol code a call settles with: 'ok', a ParleyError's code, or `non-parley: …` (tests and scripts). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof ParleyError ? err.code : `non-parley: ${String(err)}`;
  }
}
