import { ERROR_CODES, GrpcStatus, ParleyError, asParleyError, codeForGrpcStatus, codeOf, errors, grpcStatusFor, httpStatusFor, isErrorCode, toWireError, type ErrorCode } from './errors.js';

describe('ParleyError', () => {
  it('has exactly the codes of protocol.md §6', () => {
    expect([...ERROR_CODES]).toEqual([
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
    ]);
    expect(isErrorCode('not_member')).toBe(true);
    expect(isErrorCode('nope')).toBe(false);
  });

  it('carries code, retryAfterMs, details and cause', () => {
    const cause = new Error('root');
    const e = new ParleyError('rate_limited', 'slow down', { retryAfterMs: 500, details: { limit: 10 }, cause });
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ name: 'ParleyError', code: 'rate_limited', message: 'slow down', retryAfterMs: 500, details: { limit: 10 }, cause });
    expect(errors.rateLimited(250).retryAfterMs).toBe(250);
    expect(errors.notMember().code).toBe('not_member');
    expect(errors.badRequest('x', { field: 'text' }).details).toEqual({ field: 'text' });
  });

  it('maps every code to HTTP', () => {
    const expected: Record<ErrorCode, number> = {
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
    for (const c of ERROR_CODES) expect(httpStatusFor(c)).toBe(expected[c]);
  });

  it('maps every code to a gRPC status that maps back to a sensible code', () => {
    for (const c of ERROR_CODES) {
      const s = grpcStatusFor(c);
      expect(s).not.toBe(GrpcStatus.OK);
      const back = codeForGrpcStatus(s);
      // Without the parley-code trailer some codes collapse (not_member → forbidden, username_taken → conflict, too_large → bad_request).
      const collapsed: Partial<Record<ErrorCode, ErrorCode>> = { not_member: 'forbidden', username_taken: 'conflict', too_large: 'bad_request' };
      expect(back).toBe(collapsed[c] ?? c);
    }
    expect(codeForGrpcStatus(GrpcStatus.DEADLINE_EXCEEDED)).toBe('unavailable');
    expect(codeForGrpcStatus(GrpcStatus.UNIMPLEMENTED)).toBe('unavailable');
    expect(codeForGrpcStatus(GrpcStatus.UNKNOWN)).toBe('internal');
  });
});

describe('toWireError', () => {
  const logged: unknown[] = [];
  const logger = { error: (o: unknown) => void logged.push(o) };

  it('passes a ParleyError through with its code, message and retryAfterMs', () => {
    expect(toWireError(errors.rateLimited(1000, 'too many'), logger)).toEqual({ code: 'rate_limited', message: 'too many', retryAfterMs: 1000 });
    expect(toWireError(errors.notFound('no such chat'))).toEqual({ code: 'not_found', message: 'no such chat' });
  });

  it('turns anything else into internal, logs the stack and never leaks it', () => {
    logged.length = 0;
    const err = new TypeError('cannot read x of undefined at /srv/secret/path.ts');
    const w = toWireError(err, logger);
    expect(w).toEqual({ code: 'internal', message: 'internal error' });
    expect(JSON.stringify(w)).not.toContain('secret');
    expect(logged).toEqual([{ err }]);
    expect(toWireError('a string', logger)).toEqual({ code: 'internal', message: 'internal error' });
  });

  it('hides the message of an explicit internal ParleyError but logs it', () => {
    logged.length = 0;
    expect(toWireError(errors.internal('db row 42 corrupt'), logger)).toEqual({ code: 'internal', message: 'internal error' });
    expect(logged).toHaveLength(1);
  });

  it('asParleyError keeps ParleyErrors and wraps the rest as internal', () => {
    const p = errors.conflict('x');
    expect(asParleyError(p)).toBe(p);
    const wrapped = asParleyError(new Error('boom'));
    expect(wrapped.code).toBe('internal');
    expect((wrapped.cause as Error).message).toBe('boom');
  });

  it('maps store outages and overload to unavailable (retryable), never internal', () => {
    const named = (name: string, message = 'x', extra: Record<string, unknown> = {}) => Object.assign(Object.assign(new Error(message), { name }), extra);
    for (const e of [
      named('NoHostAvailableError', 'All host(s) tried for query failed'),
      named('BusyConnectionError'),
      named('OperationTimedOutError'),
      named('ResponseError', 'Operation timed out - received only 0 responses', { code: 0x1100 }),
      named('ResponseError', 'Overloaded', { code: 0x1001 }),
      named('KafkaJSConnectionError'),
      new Error('2048 requests in-flight on a single connection'),
      new Error('connect ECONNREFUSED 127.0.0.1:6390'),
      new Error('Connection is closed.'),
    ]) {
      expect(asParleyError(e).code).toBe('unavailable');
      expect(toWireError(e).code).toBe('unavailable');
    }
    // A Cassandra syntax or invalid-query error is a bug: internal.
    expect(asParleyError(named('ResponseError', 'line 1:7 no viable alternative', { code: 0x2000 })).code).toBe('internal');
    expect(asParleyError(new RangeError('bad')).code).toBe('internal');
  });
});

describe('codeOf', () => {
  it('names what a call settled with', async () => {
    expect(await codeOf(Promise.resolve(1))).toBe('ok');
    expect(await codeOf(Promise.reject(errors.notFound('x')))).toBe('not_found');
    expect(await codeOf(Promise.reject(new Error('boom')))).toBe('non-parley: Error: boom');
  });
});
