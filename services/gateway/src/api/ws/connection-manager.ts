// All connections of this gateway: register (before the 101) → accept (session.ready → backlog), the local device →
// connection map, deliveries, and ONE shared sweep timer for pings, silence, token expiry and the
// batched registry heartbeat.
import { create } from '@bufbuild/protobuf';
import { ParleyError, batchedWithFallback, createAdmission, isErrorCode, type GroupCommit, type Logger } from '@parley/kit';
import { eventsV1, sessionV1 } from '@parley/proto';
import type { WebSocket } from 'ws';
import type { GatewayConfig } from '../../config.js';
import type { GatewayMetrics } from '../../metrics.js';
import type { Upstreams } from '../../adapters/upstreams.js';
import { deliveryToEvent } from '../wire/mapping.js';
import { DeviceLimiter } from '../../domain/rate-limiter.js';
import type { AuthContext } from '../auth/authenticator.js';
import type { RequestContext } from './dispatch.js';
import { MessageStream } from './message-stream.js';
import type { UserLimits } from '../../adapters/user-limits.js';
import { CLOSE, WebSocketConnection, type ConnectionDeps } from './websocket-connection.js';

type PresenceConn = { userId: string; deviceId: string; gatewayId: string; connectionId: string };

const REGISTRY_BATCH = 2000;

export class ConnectionManager {
  private readonly conns = new Map<string, WebSocketConnection>();
  private readonly byDevice = new Map<string, Set<WebSocketConnection>>();
  private readonly limiters = new Map<string, DeviceLimiter>();
  private readonly pendingUnregisters = new Set<Promise<unknown>>();
  /** connectionId → its ConnectionOpened report while in flight (the close report waits for it). */
  private readonly presenceOpening = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private nextPingAt = 0;
  private nextRegistryAt = 0;
  private nextLimiterGcAt = 0;
  private nextPresenceAt = 0;
  private readonly backlog: MessageStream;
  private readonly reqCtxBase: Omit<RequestContext, 'userId' | 'deviceId' | 'connectionId'>;
  private readonly connDeps: ConnectionDeps;
  /** Upgrades in flight (authenticated, not yet ready). */
  handshaking = 0;
  /** deviceId → connections registered before the 101 and not yet accepted or abandoned. */
  private readonly registering = new Map<string, Set<string>>();
  /** Of those, the ones whose device was revoked meanwhile: accept closes them with 4001. */
  private readonly revokedWhileRegistering = new Set<string>();
  /**
   * Registrations and presence's "opened" reports, group-committed across this gateway's upgrades (the
   * kit's GroupCommit): a burst of connects costs one RegisterConnections and one ConnectionsOpened call per
   * batch, not two calls per upgrade.
   */
  private readonly registrations: GroupCommit<sessionV1.Connection, void>;
  private readonly presenceOpens: GroupCommit<PresenceConn, void>;
  /** The same for closes (a disconnect storm: a gateway restart, a network event). */
  private readonly unregistrations: GroupCommit<sessionV1.Connection, void>;
  private readonly presenceCloses: GroupCommit<{ connection: PresenceConn; clean: boolean }, void>;

  constructor(
    readonly cfg: GatewayConfig,
    readonly logger: Logger,
    readonly metrics: GatewayMetrics,
    private readonly upstreams: Upstreams,
    /** Cluster-wide per-user budgets (Redis); absent: per-device buckets only. */
    readonly userLimits?: UserLimits,
  ) {
    this.backlog = new MessageStream(upstreams.message, logger.child({ subsystem: 'backlog' }), metrics);
    this.reqCtxBase = {
      gatewayId: cfg.instanceId,
      upstreams,
      deadlineMs: cfg.upstreamDeadlineMs,
      sendAdmission: createAdmission({ name: 'the gateway', max: cfg.maxInflightSends }),
    };
    this.connDeps = { log: logger, metrics, limiterFor: (deviceId) => this.limiterFor(deviceId), userLimits, request: this.reqCtxBase };
    // Each falls back to its one-at-a-time call against an older peer (kit batchedWithFallback).
    const o = { maxBatch: 256, maxInFlight: 2 };
    const deadline = { deadlineMs: 5000 };
    this.registrations = batchedWithFallback(
      async (connections) => {
        const { results } = await upstreams.session.registerConnections({ connections }, deadline);
        return connections.map((_, i) => {
          const r = results[i];
          if (!r) return new ParleyError('unavailable', 'session left a registration unanswered; try again');
          return r.errorCode ? new ParleyError(isErrorCode(r.errorCode) ? r.errorCode : 'internal', r.errorMessage || r.errorCode) : undefined;
        });
      },
      (connection) => upstreams.session.registerConnection({ connection }, deadline),
      o,
    );
    this.presenceOpens = batchedWithFallback(
      async (connections) => void (await upstreams.presence.connectionsOpened({ connections, ttlMs: this.presenceTtlMs() }, deadline)),
      (connection) => upstreams.presence.connectionOpened({ connection, ttlMs: this.presenceTtlMs() }, deadline),
      o,
    );
    this.unregistrations = batchedWithFallback(
      async (connections) => void (await upstreams.session.unregisterConnections({ connections }, deadline)),
      (connection) => upstreams.session.unregisterConnection({ connection }, deadline),
      o,
    );
    this.presenceCloses = batchedWithFallback(
      async (connections) => void (await upstreams.presence.connectionsClosed({ connections }, deadline)),
      (closed) => upstreams.presence.connectionClosed(closed, deadline),
      o,
    );
  }

  private handshakes(delta: number): void {
    this.handshaking += delta;
    this.metrics.handshaking.set(this.handshaking);
  }

  get size(): number {
    return this.conns.size;
  }

  limiterFor(deviceId: string): DeviceLimiter {
    let l = this.limiters.get(deviceId);
    if (!l) this.limiters.set(deviceId, (l = new DeviceLimiter(this.cfg.rates)));
    return l;
  }

  forDevice(deviceId: string): Iterable<WebSocketConnection> {
    return this.byDevice.get(deviceId) ?? [];
  }

  /** The session registry's name for a connection of this gateway (before and after its socket exists). */
  private connectionMsg(c: { userId: string; deviceId: string; connectionId: string }) {
    return create(sessionV1.ConnectionSchema, { userId: c.userId, deviceId: c.deviceId, gatewayId: this.cfg.instanceId, connectionId: c.connectionId });
  }

  /**
   * Before the 101: registers the upgrade's connection with session, which checks the device in the same
   * call (a removed device is refused: 401, no upgrade). Counted as handshaking until `accept` or `abandon`.
   */
  async register(auth: AuthContext, connectionId: string): Promise<void> {
    this.handshakes(1);
    const msg = this.connectionMsg({ userId: auth.userId, deviceId: auth.deviceId, connectionId });
    try {
      await this.registrations.enqueue(msg);
    } catch (err) {
      this.handshakes(-1);
      const refused = err instanceof ParleyError && (err.code === 'unauthorized' || err.code === 'bad_request');
      if (!refused) {
        this.logger.warn({ err, userId: auth.userId, deviceId: auth.deviceId }, 'connection registration failed');
        // The call may have registered it anyway (a deadline, a lost answer): unregister, best effort (it only
        // deletes an entry that still names this connection).
        this.dropRegistration(msg);
      }
      throw err;
    }
    let set = this.registering.get(auth.deviceId);
    if (!set) this.registering.set(auth.deviceId, (set = new Set()));
    set.add(connectionId);
  }

  /** The upgrade `register` registered is over (accepted or abandoned); true when the device was revoked meanwhile. */
  private endRegistering(deviceId: string, connectionId: string): boolean {
    const set = this.registering.get(deviceId);
    set?.delete(connectionId);
    if (set && set.size === 0) this.registering.delete(deviceId);
    return this.revokedWhileRegistering.delete(connectionId);
  }

  /** A registered upgrade that never became a socket (the client went away before the 101). */
  abandon(auth: AuthContext, connectionId: string): void {
    this.handshakes(-1);
    this.endRegistering(auth.deviceId, connectionId);
    this.metrics.closes.inc({ code: 'abandoned' });
    this.dropRegistration(this.connectionMsg({ userId: auth.userId, deviceId: auth.deviceId, connectionId }));
  }

  private dropRegistration(msg: sessionV1.Connection): void {
    const p = this.unregistrations
      .enqueue(msg)
      .catch((err: unknown) => this.logger.warn({ err, connectionId: msg.connectionId }, 'unregister failed (the registry TTL cleans up)'));
    this.pendingUnregisters.add(p);
    void p.finally(() => this.pendingUnregisters.delete(p));
  }

  /** Takes over an upgraded socket whose connection `register` registered. */
  accept(socket: WebSocket, auth: AuthContext, connectionId: string, t0: bigint): void {
    const c = new WebSocketConnection(socket, auth, this.connDeps, connectionId);
    c.registered = true;
    this.handshakes(-1);
    const revoked = this.endRegistering(auth.deviceId, connectionId);
    socket.on('message', (raw, isBinary) => c.onRaw(raw, isBinary));
    socket.on('pong', () => {
      c.lastSeen = Date.now();
    });
    socket.on('error', (err) => this.logger.debug({ err: err.message, connectionId: c.connectionId }, 'socket error'));
    socket.on('close', (code) => this.onClose(c, code));
    if (socket.readyState !== 1) {
      this.unregister(c);
      return;
    }
    if (revoked) {
      // Removed between its registration and the 101: the revocation found no socket to close yet.
      c.close(CLOSE.revoked, 'device removed');
      return;
    }
    this.conns.set(c.connectionId, c);
    let set = this.byDevice.get(c.deviceId);
    if (!set) this.byDevice.set(c.deviceId, (set = new Set()));
    set.add(c);
    this.metrics.connections.set(this.conns.size);
    c.sendEvent('session.ready', {
      userId: auth.userId,
      deviceId: auth.deviceId,
      heartbeatIntervalMs: this.cfg.heartbeatIntervalMs,
      serverTime: new Date().toISOString(),
    });
    this.metrics.handshake.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    c.markReady();
    this.backlog.start(c);
    this.presenceOpened(c);
  }

  // ---- presence (services/presence): opened / closed / heartbeat. Failures are logged only: the heartbeat
  // re-creates what presence missed within half an interval, and its TTL (two intervals) expires what it
  // was not told about.
  private presenceConn(c: WebSocketConnection): PresenceConn {
    return { userId: c.userId, deviceId: c.deviceId, gatewayId: this.cfg.instanceId, connectionId: c.connectionId };
  }

  private presenceTtlMs(): bigint {
    return BigInt(2 * this.cfg.heartbeatIntervalMs);
  }

  private presenceOpened(c: WebSocketConnection): void {
    c.presenceOpen = true;
    this.presenceOpening.set(
      c.connectionId,
      this.presenceOpens
        .enqueue(this.presenceConn(c))
        .then(
          () => {},
          (err: unknown) => this.logger.warn({ err, connectionId: c.connectionId }, 'presence: connection opened not reported'),
        )
        .finally(() => this.presenceOpening.delete(c.connectionId)),
    );
  }

  private presenceClosed(c: WebSocketConnection, code: number): void {
    if (!c.presenceOpen) return;
    c.presenceOpen = false;
    // Offline at once when the client closed the socket itself or went silent; otherwise (a drop, a gateway
    // restart, token expiry) presence waits its grace window for a reconnect.
    const clean = code === 1000 || code === 1001 || c.silent;
    // After the open's report: two concurrent unary calls are not ordered, and a close that presence sees
    // first is a no-op, leaving the user online until the connection's TTL ran out.
    const opening = this.presenceOpening.get(c.connectionId) ?? Promise.resolve();
    const p = opening
      .then(() => this.presenceCloses.enqueue({ connection: this.presenceConn(c), clean }))
      .catch((err: unknown) => this.logger.warn({ err, connectionId: c.connectionId }, 'presence: connection closed not reported (its TTL expires it)'));
    this.pendingUnregisters.add(p);
    void p.finally(() => this.pendingUnregisters.delete(p));
  }

  private async heartbeatPresence(): Promise<void> {
    const all = [...this.conns.values()].filter((c) => c.presenceOpen && !c.closed).map((c) => this.presenceConn(c));
    for (let i = 0; i < all.length; i += REGISTRY_BATCH) {
      try {
        await this.upstreams.presence.heartbeatConnections(
          { gatewayId: this.cfg.instanceId, connections: all.slice(i, i + REGISTRY_BATCH), ttlMs: this.presenceTtlMs() },
          { deadlineMs: Math.max(1000, Math.floor(this.cfg.heartbeatIntervalMs / 2)) },
        );
      } catch (err) {
        this.logger.warn({ err }, 'presence heartbeat failed');
      }
    }
  }

  private onClose(c: WebSocketConnection, code: number): void {
    c.closed = true;
    c.backlogAbort?.abort();
    this.metrics.closes.inc({ code: String(code) });
    if (this.conns.get(c.connectionId) === c) {
      this.conns.delete(c.connectionId);
      const set = this.byDevice.get(c.deviceId);
      if (set) {
        set.delete(c);
        if (set.size === 0) this.byDevice.delete(c.deviceId);
      }
      this.metrics.connections.set(this.conns.size);
    }
    this.presenceClosed(c, code);
    this.unregister(c);
  }

  private unregister(c: WebSocketConnection): void {
    if (!c.registered) return;
    c.registered = false;
    const p = this.unregistrations
      .enqueue(this.connectionMsg(c))
      .catch((err: unknown) => this.logger.warn({ err, connectionId: c.connectionId }, 'unregister failed (the registry TTL cleans up)'));
    this.pendingUnregisters.add(p);
    void p.finally(() => this.pendingUnregisters.delete(p));
  }

  /** A GatewayDelivery from this gateway's Redis channel. */
  deliver(d: eventsV1.GatewayDelivery): void {
    this.metrics.deliveries.inc({ payload: d.payload.case ?? 'none' });
    if (d.payload.case === 'deviceRevoked') {
      const r = d.payload.value;
      const devices = new Set([r.deviceId, ...d.targets.map((t) => t.deviceId)]);
      for (const deviceId of devices) {
        for (const id of this.registering.get(deviceId) ?? []) this.revokedWhileRegistering.add(id);
        for (const c of [...this.forDevice(deviceId)]) {
          if (c.userId === r.userId || d.targets.some((t) => t.userId === c.userId)) c.close(CLOSE.revoked, 'device removed');
        }
      }
      return;
    }
    const ev = deliveryToEvent(d);
    if (!ev) return;
    const text = JSON.stringify(ev);
    for (const t of d.targets) {
      const exact = t.connectionId ? this.conns.get(t.connectionId) : undefined;
      // A presence event belongs to the subscribing connection only (subscriptions die with it).
      if (d.payload.case === 'presence' && t.connectionId && !(exact && exact.deviceId === t.deviceId)) continue;
      const targets = exact && exact.deviceId === t.deviceId ? [exact] : this.forDevice(t.deviceId);
      for (const c of targets) if (c.userId === t.userId && c.ready) c.sendText(text, ev.event);
    }
  }

  /**
   * The delivery subscription was interrupted: whatever was published meanwhile is lost for this gateway's
   * sockets, but not for the inbox. Every ready connection gets a backlog pass from its device's cursor
   * (a bounded number at a time); clients dedupe what they already had by chatId+seq.
   */
  resync(): void {
    const ready = [...this.conns.values()].filter((c) => c.ready && !c.closed);
    this.metrics.resyncs.inc();
    this.logger.info({ connections: ready.length }, 'resynchronising connected devices from their cursors');
    this.backlog.resync(ready);
  }

  /** Closes every connection of a device (removal seen by this gateway). */
  closeDevice(userId: string, deviceId: string, reason: string): void {
    for (const id of this.registering.get(deviceId) ?? []) this.revokedWhileRegistering.add(id);
    for (const c of [...this.forDevice(deviceId)]) if (c.userId === userId) c.close(CLOSE.revoked, reason);
  }

  start(): void {
    const hb = this.cfg.heartbeatIntervalMs;
    const tickMs = Math.max(50, Math.min(1000, Math.floor(hb / 4)));
    this.nextPingAt = Date.now() + hb;
    this.nextRegistryAt = Date.now() + this.cfg.registryHeartbeatMs;
    this.timer = setInterval(() => this.sweep(), tickMs);
    this.timer.unref();
  }

  /** The one timer: token expiry, silent peers, pings, registry heartbeat, idle limiter cleanup. */
  sweep(now = Date.now()): void {
    const hb = this.cfg.heartbeatIntervalMs;
    const ping = now >= this.nextPingAt;
    if (ping) this.nextPingAt = now + hb;
    const silentBefore = now - 2 * hb;
    for (const c of this.conns.values()) {
      if (c.closed) continue;
      if (c.auth.expMs <= now) {
        c.close(CLOSE.revoked, 'token expired');
      } else if (c.lastSeen < silentBefore) {
        this.metrics.closes.inc({ code: 'silent' });
        c.silent = true;
        c.terminate();
      } else if (ping) {
        try {
          c.socket.ping();
        } catch {
          /* closing */
        }
      }
    }
    if (now >= this.nextRegistryAt) {
      this.nextRegistryAt = now + this.cfg.registryHeartbeatMs;
      void this.heartbeatRegistry();
    }
    if (now >= this.nextPresenceAt) {
      this.nextPresenceAt = now + Math.max(250, Math.floor(hb / 2));
      void this.heartbeatPresence();
    }
    if (now >= this.nextLimiterGcAt) {
      this.nextLimiterGcAt = now + 60_000;
      for (const [deviceId, l] of this.limiters) if (!this.byDevice.has(deviceId) && l.idle(now)) this.limiters.delete(deviceId);
    }
  }

  private async heartbeatRegistry(): Promise<void> {
    const all = [...this.conns.values()].filter((c) => c.registered && !c.closed).map((c) => this.connectionMsg(c));
    for (let i = 0; i < all.length; i += REGISTRY_BATCH) {
      try {
        await this.upstreams.session.heartbeatConnections(
          { gatewayId: this.cfg.instanceId, connections: all.slice(i, i + REGISTRY_BATCH) },
          { deadlineMs: 10_000 },
        );
      } catch (err) {
        this.logger.warn({ err }, 'registry heartbeat failed');
      }
    }
  }

  /** Shutdown: close every socket with 1012 and wait for the unregisters. */
  async closeAll(code: number, reason: string, waitMs: number): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const c of [...this.conns.values()]) c.close(code, reason);
    const deadline = Date.now() + waitMs;
    while (this.conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of [...this.conns.values()]) c.terminate();
    await Promise.race([Promise.allSettled([...this.pendingUnregisters]), new Promise((r) => setTimeout(r, Math.max(100, deadline - Date.now())))]);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
