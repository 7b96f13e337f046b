// One push request → (registration) → collapse per (device, chat) → render → the provider's lane.
// `handle` resolves once a notification covering the event has been settled (sent, dead, given up), which is
// when the consumer may commit its offset.
import type { Logger } from '@parley/kit';
import { eventsV1 } from '@parley/proto';
import { Collapser } from './collapser.js';
import { renderNotification, type ContentOptions } from './content.js';
import type { Dispatcher, DispatchResult } from './dispatcher.js';
import type { Registration } from './types.js';

export interface RegistrationReader {
  get(userId: string, deviceId: string): Promise<Registration | undefined>;
}

export interface SenderNames {
  nameOf(userId: string): Promise<string | undefined>;
}

interface Item {
  deviceId: string;
  chatId: string;
  seq: bigint;
  ev: eventsV1.PushRequestEvent;
  reg: Registration;
}

export interface WorkerMetrics {
  /** Seconds from the message's creation to this push request being taken (send path + fan-out + Kafka). */
  requestLag?(seconds: number): void;
  skipped(reason: string): void;
  collapsed(): void;
  result(r: DispatchResult): void;
}

export class PushWorker {
  private readonly collapser: Collapser<Item>;
  private readonly order = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: {
      registrations: RegistrationReader;
      dispatcher: Dispatcher;
      names: SenderNames;
      content: ContentOptions;
      collapseWindowMs: number;
      /** Messages older than this are not notified. */
      maxAgeMs: number;
      now?: () => number;
      logger: Logger;
      metrics: WorkerMetrics;
    },
  ) {
    this.collapser = new Collapser<Item>(deps.collapseWindowMs, (item, badge) => this.deliver(item, badge), {
      onCollapsed: () => deps.metrics.collapsed(),
      onDuplicate: () => deps.metrics.skipped('duplicate'),
      ...(deps.now ? { now: deps.now } : {}),
    });
  }

  async handle(ev: eventsV1.PushRequestEvent): Promise<void> {
    if (!ev.deviceId || !ev.userId || !ev.chatId) {
      this.deps.metrics.skipped('malformed');
      return;
    }
    const age = (this.deps.now ?? Date.now)() - Number(ev.createdAt);
    this.deps.metrics.requestLag?.(Math.max(0, age) / 1000);
    if (age > this.deps.maxAgeMs) {
      this.deps.metrics.skipped('stale');
      return;
    }
    // Lookups run concurrently, but a device's events reach the collapser in event order: each waits for the
    // previous event of its device to have been submitted (or skipped).
    const lookup = this.deps.registrations.get(ev.userId, ev.deviceId);
    lookup.catch(() => {}); // awaited below, maybe after it settled
    const prev = this.order.get(ev.deviceId);
    let release!: () => void;
    const turn = new Promise<void>((r) => (release = r));
    this.order.set(ev.deviceId, turn);
    let reg: Registration | undefined;
    let submitted: Promise<void> | undefined;
    try {
      if (prev) await prev;
      reg = await lookup;
      if (reg) submitted = this.collapser.submit({ deviceId: ev.deviceId, chatId: ev.chatId, seq: ev.seq, ev, reg });
    } finally {
      release();
      if (this.order.get(ev.deviceId) === turn) this.order.delete(ev.deviceId);
    }
    if (!reg) {
      this.deps.metrics.skipped('no_registration');
      return;
    }
    await submitted;
  }

  private async deliver(item: Item, badge: number): Promise<void> {
    const wantsName = this.deps.content.previews && item.ev.bodyKind !== eventsV1.PushBodyKind.CIPHERTEXT;
    const name = wantsName ? await this.deps.names.nameOf(item.ev.senderUserId).catch(() => undefined) : undefined;
    const n = renderNotification(item.ev, badge, this.deps.content, name);
    const r = await this.deps.dispatcher.dispatch(item.reg, n);
    this.deps.metrics.result(r);
  }

  /** See Collapser.coveredSeq: a retry of an older notification is superseded by a newer one. */
  coveredSeq(deviceId: string, chatId: string): bigint | undefined {
    return this.collapser.coveredSeq(deviceId, chatId);
  }

  get openStreaks(): number {
    return this.collapser.size;
  }

  close(): void {
    this.collapser.clear();
  }
}
