// The second half of a durable retry: a notification whose attempt was deferred (push.retry.v1) comes back
// here, waits until its not-before time, and is sent again, to the device's registration as it is now. It is
// dropped when the message got too old, when the device has no registration any more, or when a newer
// notification for the same (device, chat) has been sent meanwhile (it covers this one).
import type { Dispatcher, DispatchResult } from './dispatcher.js';
import type { RegistrationReader } from './push-worker.js';
import type { Notification, PlatformName } from './types.js';

export interface StoredRetry {
  n: Notification;
  platform: PlatformName;
  token: string;
  attempt: number;
  /** Unix ms. */
  notBefore: number;
}

export interface RetryMetrics {
  resumed(provider: PlatformName): void;
  skipped(reason: string): void;
  result(r: DispatchResult): void;
}

export class RetryWorker {
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;

  constructor(
    private readonly deps: {
      registrations: RegistrationReader;
      dispatcher: Pick<Dispatcher, 'dispatch'>;
      /** The newest seq already notified for (device, chat) in an open collapse streak. */
      coveredSeq(deviceId: string, chatId: string): bigint | undefined;
      maxAgeMs: number;
      now?: () => number;
      metrics: RetryMetrics;
    },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Resolves when the retry is settled; never while closed (the record stays uncommitted for the next owner). */
  async handle(r: StoredRetry): Promise<void> {
    const wait = r.notBefore - this.now();
    if (wait > 0) await this.sleep(wait);
    if (this.closed) return new Promise<void>(() => {});
    const { n } = r;
    if (this.now() - n.createdAt > this.deps.maxAgeMs) return this.deps.metrics.skipped('stale');
    const covered = this.deps.coveredSeq(n.deviceId, n.chatId);
    if (covered !== undefined && covered > n.seq) return this.deps.metrics.skipped('superseded');
    const reg = await this.deps.registrations.get(n.userId, n.deviceId);
    if (!reg) return this.deps.metrics.skipped('no_registration');
    this.deps.metrics.resumed(reg.platform);
    this.deps.metrics.result(await this.deps.dispatcher.dispatch(reg, n, r.attempt, 'wait'));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return;
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  /** In-flight waits never finish (their records are redelivered to the next owner). */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
