// GET /v1/ws: authenticate and register the connection before the upgrade (401, no upgrade, for a missing,
// malformed, expired or revoked token, or a removed device), then hand the socket to the ConnectionManager.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { Static } from '@sinclair/typebox';
import { errors } from '@parley/kit';
import { bearerToken, subprotocolToken } from '../../auth/token-verifier.js';
import { WsQuery, responses } from '../schemas.js';
import { CLOSE, newConnectionId } from '../../ws/websocket-connection.js';

const T0 = Symbol('t0');
const PENDING = Symbol('pending');
/** A registered upgrade not yet handed over: its id, and the raw socket's close listener that abandons it. */
type Pending = { connectionId: string; socket: Socket; onClose: () => void };
type Timed = FastifyRequest & { [T0]?: bigint; [PENDING]?: Pending };

/**
 * Lets go of the HTTP upgrade once the socket is ours. Left alone, every idle connection keeps its upgrade
 * request alive for its whole life: @fastify/websocket's 'error' listener closes over the fastify request and
 * reply, and the net socket still points at the upgrade's ServerResponse (which points at the
 * IncomingMessage, its headers and the bearer token): ~1 KiB of objects plus their strings per connection
 * (bench/README.md, "What one idle connection holds"). ConnectionManager.accept installs the socket's own
 * 'error' listener right after this, in the same tick.
 */
export function releaseUpgrade(socket: WebSocket): void {
  socket.removeAllListeners('error');
  const raw = (socket as unknown as { _socket?: Socket & { _httpMessage?: ServerResponse | null } })._socket;
  const res = raw?._httpMessage;
  if (raw && res) res.detachSocket(raw);
}

export async function websocketRoutes(app: FastifyInstance): Promise<void> {
  const gw = app.gw;
  app.get<{ Querystring: Static<typeof WsQuery> }>(
    '/v1/ws',
    {
      websocket: true,
      schema: { querystring: WsQuery, response: responses({}) },
      preValidation: async (req) => {
        (req as Timed)[T0] = process.hrtime.bigint();
        if (gw.draining()) throw errors.unavailable('gateway is shutting down; reconnect to another');
        if (gw.connections.size + gw.connections.handshaking >= gw.cfg.maxConnections) {
          throw errors.unavailable('gateway is full; reconnect to another');
        }
        // Authorization header, else the Sec-WebSocket-Protocol token (browsers), else the query string
        // (protocol.md §1; kept out of every log line: request logging is off and no log prints the URL).
        const token = bearerToken(req.headers.authorization) ?? subprotocolToken(req.headers['sec-websocket-protocol']) ?? req.query.access_token;
        const auth = await gw.authenticator.verify(token);
        req.auth = auth;
        // Not an upgrade (Node emitted no 'upgrade' for it, whatever its headers say): nothing to register;
        // @fastify/websocket answers it. A client that left during the verification is not registered either.
        if (!req.ws || req.raw.socket.destroyed) return;
        // One call checks the device and registers the connection (RegisterConnections, group-committed).
        const connectionId = newConnectionId();
        await gw.connections.register(auth, connectionId);
        const raw = req.raw.socket;
        const pending: Pending = { connectionId, socket: raw, onClose: () => gw.connections.abandon(auth, connectionId) };
        if (raw.destroyed) return pending.onClose();
        raw.once('close', pending.onClose);
        (req as Timed)[PENDING] = pending;
      },
    },
    (socket, req) => {
      const auth = req.auth!;
      const t0 = (req as Timed)[T0] ?? process.hrtime.bigint();
      const pending = (req as Timed)[PENDING];
      releaseUpgrade(socket);
      if (!pending) {
        socket.close(CLOSE.tryAgain, 'try again later');
        return;
      }
      pending.socket.off('close', pending.onClose);
      (req as Timed)[PENDING] = undefined;
      gw.connections.accept(socket, auth, pending.connectionId, t0);
    },
  );

  // Diagnostics echo (GATEWAY_DIAG_WS_ECHO=true only; docs/operations.md): same ws server options as /v1/ws
  // (maxPayload, no compression), no authentication, no Parley framing.
  if (gw.cfg.diagEcho) {
    app.get('/v1/diag/echo', { websocket: true }, (socket) => {
      socket.on('message', (data: Buffer, isBinary: boolean) => socket.send(data, { binary: isBinary }));
    });
  }
}
