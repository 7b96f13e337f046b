// The live WebSocket: connect with the session's token, keep it alive, and reconnect with backoff after
// a 1012 (gateway restart), a dropped socket or a network loss, moving to the next gateway of the list.
// The list is the page's own origin followed by the gateways of /config.json (GATEWAY_WEB_GATEWAYS), so
// when the gateway that served the page dies the page carries on through another one.
import { ParleyRequestError, connect, reconnectDelayMs, type ParleyConnection } from '@parley/client';
import type { Session } from './session.js';

export type LiveState = 'connecting' | 'online' | 'offline';

/** Browser-side liveness check: a `ping` request this often; no reply in PING_TIMEOUT_MS drops the socket. */
const PING_EVERY_MS = 20_000;
const PING_TIMEOUT_MS = 8_000;

export function wsUrlOf(base: string): string {
  return base.replace(/^http/, 'ws').replace(/\/+$/, '') + '/v1/ws';
}

export async function loadGateways(origin: string): Promise<string[]> {
  const list = [origin];
  try {
    const res = await fetch('/config.json', { cache: 'no-store' });
    if (res.ok) {
      const cfg = (await res.json()) as { gateways?: unknown };
      if (Array.isArray(cfg.gateways)) {
        for (const g of cfg.gateways) if (typeof g === 'string' && !list.includes(g.replace(/\/+$/, ''))) list.push(g.replace(/\/+$/, ''));
      }
    }
  } catch {
    /* served without config (e.g. the Vite dev server): the origin only */
  }
  return list;
}

export class Live {
  state: LiveState = 'offline';
  conn: ParleyConnection | undefined;
  /** Index into gateways of the one in use (or being tried). */
  gatewayIndex = 0;
  /** Successful connects so far (the UI and tests can see reconnects). */
  connects = 0;
  onState: ((s: LiveState) => void) | undefined;
  /** Called with every new connection after session.ready, before it is marked online. */
  onReady: ((conn: ParleyConnection) => Promise<void> | void) | undefined;
  /** The session ended while connecting (device removed). */
  onSignedOut: ((reason: string) => void) | undefined;

  /** Connections replaced by a fresher token without a gap (make before break). */
  renewals = 0;
  private stopped = true;
  private renewing = false;
  private wake: (() => void) | undefined;
  private pinger: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly session: Session,
    readonly gateways: string[],
  ) {
    window.addEventListener('online', () => this.kick());
    window.addEventListener('offline', () => this.conn?.terminate());
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.kick();
    void this.conn?.close(1000);
    this.conn = undefined;
    this.setState('offline');
  }

  /** Skip the current backoff wait (the network came back). */
  kick(): void {
    this.wake?.();
  }

  get gateway(): string {
    return this.gateways[this.gatewayIndex % this.gateways.length]!;
  }

  /** A request over the live connection; rejects with code `closed` while reconnecting. */
  request(op: string, data: unknown = {}): Promise<unknown> {
    const c = this.conn;
    if (!c || !c.isOpen) {
      return Promise.reject(new ParleyRequestError({ code: 'closed', message: 'not connected' }));
    }
    return c.request(op, data);
  }

  private setState(s: LiveState): void {
    if (this.state === s) return;
    this.state = s;
    this.onState?.(s);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    let failures = 0;
    while (!this.stopped) {
      this.setState('connecting');
      let conn: ParleyConnection;
      try {
        // A browser cannot see the 401 of a refused upgrade; after two failed tries refresh first.
        if (failures >= 2 && failures % 2 === 0) await this.session.refresh().catch(() => undefined);
        const token = await this.session.accessToken();
        if (!token) {
          this.onSignedOut?.('This device was signed out. Log in again.');
          return;
        }
        conn = await connect(wsUrlOf(this.gateway), token, { recordEvents: false, timeoutMs: 8000, requestTimeoutMs: 10_000 });
      } catch {
        if (this.stopped) return;
        failures++;
        this.gatewayIndex = (this.gatewayIndex + 1) % this.gateways.length;
        await this.sleep(reconnectDelayMs(attempt++, 250, 5000));
        continue;
      }
      if (this.stopped) {
        void conn.close(1000);
        return;
      }
      this.conn = conn;
      try {
        await this.onReady?.(conn);
      } catch {
        /* a failed sync is retried on the next connect; the socket itself is fine */
      }
      if (!conn.isOpen) continue;
      attempt = 0;
      failures = 0;
      this.connects++;
      this.setState('online');
      this.startPinger(conn);
      let current = conn;
      let closed = await current.closed;
      // replaced by renew(): follow the new connection
      while (this.conn && this.conn !== current && this.conn.isOpen) {
        current = this.conn;
        closed = await current.closed;
      }
      this.stopPinger();
      if (this.conn === current) this.conn = undefined;
      if (this.stopped) return;
      this.setState('connecting');
      if (closed.code === 4001) {
        // token expired or device removed: a refresh tells which
        const s = await this.session.refresh().catch(() => this.session.current);
        if (!s) {
          this.onSignedOut?.('This device was removed. Log in again.');
          return;
        }
      } else if (closed.code !== 1000) {
        // 1012 (restart), 1006 (dropped): any gateway will do; start with the next one
        this.gatewayIndex = (this.gatewayIndex + 1) % this.gateways.length;
      }
      await this.sleep(reconnectDelayMs(0, 250, 5000));
    }
  }

  /**
   * The gateway closes a connection when the token it was opened with expires (4001), and the protocol
   * has no way to hand an open socket a new token. So after each refresh the page opens a second
   * connection with the new token, syncs it, switches to it and closes the old one: no "connecting…"
   * gap, and deliveries that reach both are deduped by (chatId, seq).
   */
  async renew(): Promise<void> {
    if (this.stopped || this.state !== 'online' || this.renewing || !this.conn) return;
    const token = this.session.current?.accessToken;
    if (!token) return;
    this.renewing = true;
    try {
      const next = await connect(wsUrlOf(this.gateway), token, { recordEvents: false, timeoutMs: 8000, requestTimeoutMs: 10_000 });
      if (this.stopped || !this.conn?.isOpen) {
        void next.close(1000);
        return;
      }
      await this.onReady?.(next);
      const old = this.conn;
      this.conn = next;
      this.renewals++;
      this.startPinger(next);
      void old.close(1000);
    } catch {
      /* keep the old connection; if it closes at expiry the loop reconnects */
    } finally {
      this.renewing = false;
    }
  }

  private startPinger(conn: ParleyConnection): void {
    this.stopPinger();
    this.pinger = setInterval(() => {
      conn.request('ping', {}, { timeoutMs: PING_TIMEOUT_MS }).catch((err: unknown) => {
        if (err instanceof ParleyRequestError && err.code === 'timeout') conn.terminate();
      });
    }, PING_EVERY_MS);
  }

  private stopPinger(): void {
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = undefined;
  }
}
