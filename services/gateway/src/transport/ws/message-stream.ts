// The backlog on connect: MessageService.StreamBacklog written as `message.new`, then `inbox.drained`.
// If the message service is unavailable the stream is retried in the background with backoff; the
// socket stays open. A retried pass starts again from the device's cursor, so a message may be sent twice
// (clients dedupe by chatId+seq); `count` is the number of messages of the pass that completed.
import type { Client, Logger } from '@parley/kit';
import type { messageV1 } from '@parley/proto';
import { messageToJson } from '../../domain/mapping.js';
import type { WebSocketConnection } from './websocket-connection.js';

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 30_000;

export class MessageStream {
  constructor(
    private readonly message: Pick<Client<typeof messageV1.MessageService>, 'streamBacklog'>,
    private readonly logger: Logger,
  ) {}

  start(c: WebSocketConnection): void {
    const abort = new AbortController();
    c.backlogAbort = abort;
    void this.run(c, abort.signal);
  }

  private async run(c: WebSocketConnection, signal: AbortSignal): Promise<void> {
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
        c.sendEvent('inbox.drained', { count });
        return;
      } catch (err) {
        if (signal.aborted || c.closed) return;
        this.logger.warn({ err, attempt, deviceId: c.deviceId, delayMs: delay }, 'backlog stream failed; retrying');
        await new Promise((r) => setTimeout(r, Math.floor(delay / 2 + Math.random() * (delay / 2))));
        delay = Math.min(BACKOFF_MAX_MS, delay * 2);
      }
    }
  }
}
