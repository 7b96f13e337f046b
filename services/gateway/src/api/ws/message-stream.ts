// The backlog on connect: MessageService.StreamBacklog written as `message.new`, then `inbox.drained`.
// If the message service is unavailable the stream is retried in the background with backoff; the
// socket stays open. A retried pass starts again from the device's cursor, so a message may be sent twice
// (clients dedupe by chatId+seq); `count` is the number of messages of the pass that completed. After a gap in
// the gateway's delivery subscription, `resync` runs the same pass again (without `inbox.drained`) for every
// connected device: what was published while the gateway was not subscribed is still after its cursor.
import type { Client, Logger } from '@parley/kit';
import type { messageV1 } from '@parley/proto';
import { messageToJson } from '../wire/mapping.js';
import type { WebSocketConnection } from './websocket-connection.js';

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 30_000;

export class MessageStream {
  /** Connections waiting for a resynchronisation pass (after a delivery-subscription gap), and passes running. */
  private readonly resyncQueue: WebSocketConnection[] = [];
  private resyncRunning = 0;

  constructor(
    private readonly message: Pick<Client<typeof messageV1.MessageService>, 'streamBacklog'>,
    private readonly logger: Logger,
    private readonly metrics?: { resyncMessages: { inc(n?: number): void } },
    private readonly resyncConcurrency = 16,
  ) {}

  /** The pass on connect: the backlog, then `inbox.drained`. */
  start(c: WebSocketConnection): void {
    const abort = new AbortController();
    c.backlogAbort = abort;
    c.backlogDone = false;
    void this.run(c, abort.signal, true);
  }

  /**
   * Another pass from each device's cursor, `resyncConcurrency` at a time. A connection whose first pass has
   * not finished gets that pass restarted instead (its `inbox.drained` still comes once, at the end).
   */
  resync(conns: Iterable<WebSocketConnection>): void {
    for (const c of conns) {
      if (c.closed) continue;
      if (!c.backlogDone) {
        c.backlogAbort?.abort();
        this.start(c);
        continue;
      }
      if (!this.resyncQueue.includes(c)) this.resyncQueue.push(c);
    }
    this.pump();
  }

  private pump(): void {
    while (this.resyncRunning < this.resyncConcurrency && this.resyncQueue.length > 0) {
      const c = this.resyncQueue.shift()!;
      if (c.closed) continue;
      this.resyncRunning++;
      const abort = new AbortController();
      c.backlogAbort = abort;
      void this.run(c, abort.signal, false).finally(() => {
        this.resyncRunning--;
        this.pump();
      });
    }
  }

  private async run(c: WebSocketConnection, signal: AbortSignal, first: boolean): Promise<void> {
    try {
      await this.pass(c, signal, first);
    } finally {
      // An idle connection holds no controller (with its signal and listeners) once its pass is over.
      if (c.backlogAbort?.signal === signal) c.backlogAbort = undefined;
    }
  }

  private async pass(c: WebSocketConnection, signal: AbortSignal, first: boolean): Promise<void> {
    let delay = BACKOFF_START_MS;
    for (let attempt = 0; !signal.aborted && !c.closed; attempt++) {
      let count = 0;
      try {
        for await (const item of this.message.streamBacklog({ userId: c.userId, deviceId: c.deviceId }, { signal })) {
          if (signal.aborted || c.closed) return;
          if (item.message) {
            c.sendEvent('message.new', { message: messageToJson(item.message) });
            count++;
          }
        }
        if (signal.aborted || c.closed) return;
        if (first) {
          c.backlogDone = true;
          c.sendEvent('inbox.drained', { count });
        } else if (count > 0) {
          this.metrics?.resyncMessages.inc(count);
        }
        return;
      } catch (err) {
        if (signal.aborted || c.closed) return;
        this.logger.warn({ err, attempt, deviceId: c.deviceId, delayMs: delay, resync: !first }, 'backlog stream failed; retrying');
        await new Promise((r) => setTimeout(r, Math.floor(delay / 2 + Math.random() * (delay / 2))));
        delay = Math.min(BACKOFF_MAX_MS, delay * 2);
      }
    }
  }
}
