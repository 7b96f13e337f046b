// One authenticated WebSocket: frame intake (validation, bad-frame policy, rate limits), replies and
// events. Kept small: tens of thousands live per gateway. Timers live in ConnectionManager (one shared);
// what it needs from the gateway (logger, metrics, limiters, request context) it is given when it is made.
import { randomBytes } from 'node:crypto';
import type { WebSocket, RawData } from 'ws';
import { toWireError, type Logger } from '@parley/kit';
import { decodeFrame, OPS, type ValidRequest } from '../wire/frames.js';
import { LIMITS } from '../wire/limits.js';
import { BadFrameCounter, type DeviceLimiter } from '../../domain/rate-limiter.js';
import type { AuthContext } from '../auth/authenticator.js';
import type { GatewayMetrics } from '../../metrics.js';
import type { UserLimits } from '../../adapters/user-limits.js';
import { dispatch, type RequestContext } from './dispatch.js';

export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  binary: 1003,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  restart: 1012,
  tryAgain: 1013,
  revoked: 4001,
} as const;

/** A client whose unsent output exceeds this is too slow to keep: closed with 1008. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Frames accepted before session.ready is sent (queued, handled right after). */
const MAX_EARLY_FRAMES = 32;

/** What a connection needs from the gateway, handed to it when it is made (ConnectionManager.accept). */
export interface ConnectionDeps {
  log: Logger;
  metrics: Pick<GatewayMetrics, 'framesIn' | 'framesOut' | 'errors' | 'userLimited' | 'requestSeconds'>;
  /** The device's token buckets, shared by all its connections to this gateway. */
  limiterFor(deviceId: string): DeviceLimiter;
  /** Cluster-wide per-user budgets (Redis); absent: per-device buckets only. */
  userLimits?: Pick<UserLimits, 'send'> | undefined;
  /** What every request's context holds besides the connection's own ids. */
  request: Omit<RequestContext, 'userId' | 'deviceId' | 'connectionId'>;
}

/** A new connection's id (registered with session before the upgrade completes). */
export const newConnectionId = (): string => randomBytes(9).toString('base64url');

export class WebSocketConnection {
  lastSeen = Date.now();
  ready = false;
  closed = false;
  registered = false;
  /** Reported to presence as opened (and not yet as closed). */
  presenceOpen = false;
  /** Cut by the sweep for silence (no pong or frame for two heartbeat intervals). */
  silent = false;
  backlogAbort: AbortController | undefined;
  /** The connect-time backlog pass finished (`inbox.drained` sent). */
  backlogDone = false;
  private early: string[] | undefined = [];
  private bad: BadFrameCounter | undefined;

  constructor(
    readonly socket: WebSocket,
    readonly auth: AuthContext,
    private readonly deps: ConnectionDeps,
    readonly connectionId: string = newConnectionId(),
  ) {}

  get userId(): string {
    return this.auth.userId;
  }

  get deviceId(): string {
    return this.auth.deviceId;
  }

  get log(): Logger {
    return this.deps.log;
  }

  /** Writes a pre-serialized frame. */
  sendText(text: string, kind: string): void {
    if (this.closed || this.socket.readyState !== 1) return;
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.close(CLOSE.policy, 'slow consumer');
      return;
    }
    this.socket.send(text);
    this.deps.metrics.framesOut.inc({ kind });
  }

  sendEvent(event: string, data: unknown): void {
    this.sendText(JSON.stringify({ event, data }), event);
  }

  sendReply(id: string, data: unknown): void {
    this.sendText(JSON.stringify({ id, ok: true, data }), 'reply');
  }

  sendError(id: string | null, error: { code: string; message: string; retryAfterMs?: number; field?: string }): void {
    this.deps.metrics.errors.inc({ transport: 'ws', code: error.code });
    this.sendText(JSON.stringify({ id, ok: false, error }), 'error');
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.backlogAbort?.abort();
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
    }
  }

  /** Drops a dead peer without a close handshake. */
  terminate(): void {
    this.closed = true;
    this.backlogAbort?.abort();
    this.socket.terminate();
  }

  onRaw(raw: RawData, isBinary: boolean): void {
    this.lastSeen = Date.now();
    if (this.closed) return;
    if (isBinary) {
      this.deps.metrics.framesIn.inc({ op: 'binary' });
      this.close(CLOSE.binary, 'binary frames are not supported');
      return;
    }
    const text = Array.isArray(raw) ? Buffer.concat(raw).toString('utf8') : Buffer.from(raw as ArrayBuffer).toString('utf8');
    if (this.early) {
      if (this.early.length >= MAX_EARLY_FRAMES) {
        this.close(CLOSE.policy, 'too many frames before session.ready');
        return;
      }
      this.early.push(text);
      return;
    }
    this.onText(text);
  }

  /** Called once session.ready was sent: handles the frames that arrived during the handshake. */
  markReady(): void {
    this.ready = true;
    const early = this.early ?? [];
    this.early = undefined;
    for (const t of early) if (!this.closed) this.onText(t);
  }

  private onText(text: string): void {
    const f = decodeFrame(text);
    if (f.kind === 'error') {
      this.deps.metrics.framesIn.inc({ op: 'invalid' });
      const err: { code: string; message: string; field?: string } = { code: f.code, message: f.message };
      if (f.field !== undefined) err.field = f.field;
      this.sendError(f.id, err);
      this.bad ??= new BadFrameCounter(LIMITS.badFramesPerMinute);
      if (this.bad.record(Date.now())) this.close(CLOSE.policy, 'too many bad frames');
      return;
    }
    this.deps.metrics.framesIn.inc({ op: f.op });
    const retryAfterMs = this.deps.limiterFor(this.deviceId).take(OPS[f.op].rate, Date.now());
    if (retryAfterMs > 0) {
      this.sendError(f.id, { code: 'rate_limited', message: `too many ${f.op} requests`, retryAfterMs });
      return;
    }
    const users = this.deps.userLimits;
    if (f.op === 'message.send' && users) {
      // Shed before the Redis round trip: a send the gateway would refuse anyway costs no budget token and
      // no Redis call (under overload most sends are refused, and each one's work slows the accepted ones).
      const refused = this.deps.request.sendAdmission.refusal();
      if (refused) {
        this.sendError(f.id, toWireError(refused, this.log));
        return;
      }
      // The user's budget across all devices and gateways (Redis); replies keep the order of the frames.
      void users.send(this.userId).then((wait) => {
        if (this.closed) return;
        if (wait > 0) {
          this.deps.metrics.userLimited.inc({ op: f.op });
          this.sendError(f.id, { code: 'rate_limited', message: 'too many message.send requests for this account', retryAfterMs: wait });
          return;
        }
        void this.handle(f);
      });
      return;
    }
    void this.handle(f);
  }

  private async handle(f: ValidRequest): Promise<void> {
    const end = this.deps.metrics.requestSeconds.startTimer({ op: f.op });
    try {
      const data = await dispatch({ ...this.deps.request, userId: this.userId, deviceId: this.deviceId, connectionId: this.connectionId }, f.op, f.data as never);
      if (f.id !== null) this.sendReply(f.id, data);
    } catch (err) {
      this.sendError(f.id, toWireError(err, this.log));
    } finally {
      end();
    }
  }
}
