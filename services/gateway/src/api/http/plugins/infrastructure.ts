// Infrastructure: WebSocket support (frame size limit = ws maxPayload → close 1009), one error handler
// that maps every error to `{"error":{"code","message"}}` with the protocol.md §6 codes (unknown errors
// become `internal`, logged with their stack, never sent), and a JSON 404.
import websocket from '@fastify/websocket';
import fp from 'fastify-plugin';
import type { FastifyError, FastifyInstance } from 'fastify';
import { ParleyError, httpStatusFor, isErrorCode, toWireError, type ErrorCode } from '@parley/kit';
import type { GatewayMetrics } from '../../../metrics.js';
import { WS_PROTOCOL } from '../../auth/token-verifier.js';

export interface InfrastructureOptions {
  maxFrameBytes: number;
  metrics: GatewayMetrics;
}

function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 413) return 'too_large';
  if (status === 429) return 'rate_limited';
  if (status === 503) return 'unavailable';
  if (status >= 400 && status < 500) return 'bad_request';
  return 'internal';
}

interface AjvLikeError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: { missingProperty?: string };
}

function validationField(e: AjvLikeError): string {
  const base = (e.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  if (e.keyword === 'required' && e.params?.missingProperty) return base ? `${base}.${e.params.missingProperty}` : e.params.missingProperty;
  return base;
}

export const infrastructurePlugin = fp(
  async (app: FastifyInstance, opts: InfrastructureOptions) => {
    await app.register(websocket, {
      options: {
        maxPayload: opts.maxFrameBytes,
        perMessageDeflate: false,
        // Select `parley.v1` when offered; never echo the token-carrying subprotocol.
        handleProtocols: (protocols: Set<string>) => (protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
      },
    });

    app.setErrorHandler((err: FastifyError | ParleyError | Error, req, reply) => {
      let status: number;
      let body: { code: string; message: string; retryAfterMs?: number; field?: string };
      const fe = err as FastifyError;
      if (fe.validation && fe.validation.length > 0) {
        const first = fe.validation[0] as AjvLikeError;
        const field = validationField(first);
        const what = field || fe.validationContext || 'request';
        status = 400;
        body = { code: 'bad_request', message: `${what}: ${first.keyword === 'required' ? 'is required' : (first.message ?? 'is invalid')}` };
        if (field) body.field = field;
      } else if (err instanceof ParleyError) {
        const w = toWireError(err, req.log);
        status = httpStatusFor(w.code);
        body = { ...w };
        const f = err.details?.['field'];
        if (typeof f === 'string') body.field = f;
      } else if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
        // fastify's own client errors (invalid JSON body, unsupported media type, body too large, …)
        status = fe.statusCode;
        const code = codeForStatus(fe.statusCode);
        body = { code: isErrorCode(code) ? code : 'bad_request', message: fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? 'body is not valid JSON' : fe.message };
      } else {
        const w = toWireError(err, req.log);
        status = httpStatusFor(w.code);
        body = { ...w };
      }
      opts.metrics.errors.inc({ transport: 'http', code: body.code });
      if (body.retryAfterMs !== undefined) void reply.header('retry-after', String(Math.ceil(body.retryAfterMs / 1000)));
      return reply.status(status).send({ error: body });
    });

    app.setNotFoundHandler((req, reply) => {
      opts.metrics.errors.inc({ transport: 'http', code: 'not_found' });
      return reply.status(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}` } });
    });
  },
  { name: 'gateway-infrastructure' },
);
