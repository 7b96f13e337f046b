// Stored but not published (docs/architecture.md §3): when the post-commit publish to chat.messages.v1 fails
// (Kafka away), the sender is answered `unavailable` naming the stored seq and its retry republishes
// (MessageSender.duplicateOf). A sender that never retries (the app was killed) would leave the message with
// no event: no live delivery, no push. So the sequencer also hands such messages here, and this process keeps
// publishing them in the background, with backoff, until the broker takes them. Publishing a message twice
// (this and a client's retry) is harmless: the fan-out and clients dedupe by (chatId, seq).
//
// Not durable: a crash of this process while it holds messages loses their live delivery and push (the log
// has them, so every recipient still gets them from its backlog on its next connect). Bounded: beyond
// `max` held messages the oldest are dropped (counted and logged) rather than growing without limit.
import type { commonV1 } from '@parley/proto';
import type { MessagePublisher } from './ports.js';

export interface RepublisherOptions {
  /** Messages held at most (oldest dropped beyond). */
  max?: number;
  /** First retry delay (ms); doubles up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Messages per publish attempt. */
  batch?: number;
  onPublished?: (n: number) => void;
  onDropped?: (n: number) => void;
  onError?: (err: unknown, held: number) => void;
}

export class Republisher {
  private readonly held = new Map<string, commonV1.Message>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private delay: number;
  private stopped = false;
  private readonly max: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly batch: number;

  constructor(
    private readonly publisher: MessagePublisher,
    private readonly o: RepublisherOptions = {},
  ) {
    this.max = o.max ?? 10_000;
    this.initialDelayMs = o.initialDelayMs ?? 500;
    this.maxDelayMs = o.maxDelayMs ?? 10_000;
    this.batch = o.batch ?? 256;
    this.delay = this.initialDelayMs;
  }

  /** Messages waiting for a successful publish. */
  get size(): number {
    return this.held.size;
  }

  /** Keeps `msgs` (committed, their publish failed) and schedules a retry. */
  hold(msgs: readonly commonV1.Message[]): void {
    if (this.stopped) return;
    for (const m of msgs) {
      const k = `${m.chatId}\u0000${m.seq}`;
      this.held.delete(k);
      this.held.set(k, m);
    }
    let dropped = 0;
    while (this.held.size > this.max) {
      this.held.delete(this.held.keys().next().value!);
      dropped += 1;
    }
    if (dropped) this.o.onDropped?.(dropped);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.running || this.stopped || this.held.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.attempt();
    }, this.delay);
    this.timer.unref?.();
  }

  /** One round: publishes what is held, oldest first, in batches; stops at the first failure and backs off. */
  private async attempt(): Promise<void> {
    this.running = true;
    try {
      while (this.held.size > 0) {
        const entries = [...this.held].slice(0, this.batch);
        // In seq order per chat, as the fan-out expects within a key.
        const msgs = entries.map(([, m]) => m).sort((a, b) => (a.chatId < b.chatId ? -1 : a.chatId > b.chatId ? 1 : a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
        await this.publisher.publishMessages(msgs);
        for (const [k] of entries) this.held.delete(k);
        this.o.onPublished?.(msgs.length);
        this.delay = this.initialDelayMs;
      }
    } catch (err) {
      this.o.onError?.(err, this.held.size);
      this.delay = Math.min(this.delay * 2, this.maxDelayMs);
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  /** Shutdown: one last attempt (bounded by the publisher's own timeouts), then forgets what is left. */
  async stop(): Promise<number> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running && this.held.size > 0) await this.attempt();
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const left = this.held.size;
    this.held.clear();
    return left;
  }
}
