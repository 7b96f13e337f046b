// A client that behaves like a real app under failure (not a test file): it reconnects, to any gateway,
// with backoff when its socket drops, retries a send with the SAME clientMsgId until it is acked, and
// acks what it received. Used by the crash suite.
import { ParleyRequestError, reconnectDelayMs, type MessageBody, type ParleyConnection } from '@parley/client';
import { sleep, type Device } from './helpers.js';

/** Codes a send may be retried on (the request may or may not have been committed). */
const RETRYABLE = new Set(['unavailable', 'timeout', 'closed', 'internal', 'rate_limited']);

export interface Acked {
  chatId: string;
  clientMsgId: string;
  seq: number;
  messageId: string;
  deviceId: string;
  attempts: number;
  duplicate: boolean;
  /** Date.now() when the ok reply arrived. */
  ackedAt: number;
}

export class ResilientDevice {
  private stopped = false;
  private current: Promise<ParleyConnection> | undefined;
  /** Reconnects done after a drop (not counting the first connect). */
  reconnects = 0;
  /** Errors seen per code (sends, acks). */
  readonly errors = new Map<string, number>();
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly acked = new Set<string>(); // chatId#seq already acked

  constructor(
    readonly dev: Device,
    private readonly gateways: number,
    private readonly preferred: number,
  ) {}

  get deviceId(): string {
    return this.dev.deviceId;
  }

  start(): Promise<ParleyConnection> {
    this.current = this.connectLoop(this.preferred);
    return this.current;
  }

  /** Ack everything received every `everyMs` (acks may fail; un-acked messages are redelivered anyway). */
  autoAck(everyMs = 250): void {
    this.ackTimer = setInterval(() => void this.ackNew(), everyMs);
  }

  private async ackNew(): Promise<void> {
    const conn = this.dev.conn;
    if (!conn?.isOpen) return;
    const items: { chatId: string; seq: number }[] = [];
    for (const [chatId, msgs] of this.dev.messages) {
      for (const seq of msgs.keys()) if (!this.acked.has(`${chatId}#${seq}`)) items.push({ chatId, seq });
    }
    if (items.length === 0) return;
    try {
      for (let i = 0; i < items.length; i += 500) await conn.request('message.ack', { items: items.slice(i, i + 500) }, { timeoutMs: 5000 });
      for (const it of items) this.acked.add(`${it.chatId}#${it.seq}`);
    } catch (e) {
      this.count(e);
    }
  }

  private count(e: unknown): void {
    const code = e instanceof ParleyRequestError ? e.code : 'exception';
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  private async connectLoop(first: number): Promise<ParleyConnection> {
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) throw new Error('stopped');
      const gw = (first + attempt) % this.gateways;
      try {
        const conn = await this.dev.connect(gw);
        void conn.closed.then(() => {
          if (this.stopped || this.dev.conn !== conn) return;
          this.reconnects++;
          this.current = (async () => {
            await sleep(reconnectDelayMs(0, 100, 2000));
            return this.connectLoop(gw + 1);
          })();
        });
        return conn;
      } catch {
        await sleep(reconnectDelayMs(Math.min(attempt, 4), 200, 2000) + 50);
      }
    }
  }

  /** The open connection, waiting through reconnects. */
  async connection(): Promise<ParleyConnection> {
    for (;;) {
      const c = await this.current!;
      if (c.isOpen) return c;
      await sleep(50);
    }
  }

  /** Send until acked, always with the same clientMsgId. Throws only on a non-retryable error or on `deadline`. */
  async sendUntilAcked(chatId: string, clientMsgId: string, body: MessageBody, deadline: number): Promise<Acked> {
    for (let attempt = 1; ; attempt++) {
      if (Date.now() > deadline) throw new Error(`send ${clientMsgId} not acked before the deadline (${attempt - 1} attempts)`);
      let conn: ParleyConnection;
      try {
        conn = await Promise.race([this.connection(), sleep(5000).then(() => Promise.reject(new ParleyRequestError({ code: 'timeout', message: 'no connection' })))]);
        const r = await conn.request('message.send', { chatId, clientMsgId, body }, { timeoutMs: 6000 });
        return { chatId, clientMsgId, seq: r.seq, messageId: r.messageId, deviceId: this.dev.deviceId, attempts: attempt, duplicate: r.duplicate, ackedAt: Date.now() };
      } catch (e) {
        this.count(e);
        if (e instanceof ParleyRequestError && !RETRYABLE.has(e.code)) throw e;
        const wait = e instanceof ParleyRequestError && e.retryAfterMs ? e.retryAfterMs : reconnectDelayMs(Math.min(attempt, 4), 100, 2000);
        await sleep(wait);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.ackTimer) clearInterval(this.ackTimer);
    await this.dev.disconnect();
  }
}
