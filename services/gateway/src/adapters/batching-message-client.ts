// The message service client the gateway uses: `sendMessage` and `ackMessages` are batched across all
// connections of this gateway (docs/architecture.md §3, "Batching at every hop"), everything else passes
// through. Callers see the unary API unchanged.
//
// Sends: group commit over SendBatch. While one call waits for its `accepted` event (its items are queued in
// their chats' sequencers, in order), new sends queue here; the next call starts when that event arrives.
// So calls are strictly ordered, which keeps a connection's sends to one chat in arrival order, and the
// batch size follows the load (1 when idle, more under load) without a timer adding latency.
// Acks: the same, over AckBatch (one call in flight; acks of many devices per call).
import { ParleyError, isErrorCode, type CallOptions, type Client } from '@parley/kit';
import type { messageV1 } from '@parley/proto';

type MessageClient = Client<typeof messageV1.MessageService>;
type SendReq = Parameters<MessageClient['sendMessage']>[0];
type AckReq = Parameters<MessageClient['ackMessages']>[0];

interface Waiter<Req, Res> {
  req: Req;
  resolve(r: Res): void;
  reject(err: unknown): void;
}

export interface BatchingOptions {
  /** Deadline of one batch call (ms). */
  deadlineMs: number;
  /** Items per call. */
  maxBatch?: number;
  onBatch?: (kind: 'send' | 'ack', size: number) => void;
}

const toError = (e: messageV1.CallError): ParleyError =>
  new ParleyError(isErrorCode(e.code) ? e.code : 'internal', e.message || e.code, e.retryAfterMs > 0n ? { retryAfterMs: Number(e.retryAfterMs) } : {});

class SendBatcher {
  private readonly q: Array<Waiter<SendReq, messageV1.SendMessageResponse>> = [];
  private waiting = false;
  private scheduled = false;

  constructor(
    private readonly inner: MessageClient,
    private readonly o: BatchingOptions,
  ) {}

  send(req: SendReq): Promise<messageV1.SendMessageResponse> {
    return new Promise((resolve, reject) => {
      this.q.push({ req, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.waiting || this.scheduled) return;
    this.scheduled = true;
    // Gather what this turn of the event loop brings (frames that arrived in one read).
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.waiting || this.q.length === 0) return;
    const items = this.q.splice(0, this.o.maxBatch ?? 512);
    this.waiting = true;
    this.o.onBatch?.('send', items.length);
    void this.run(items);
  }

  private async run(items: Array<Waiter<SendReq, messageV1.SendMessageResponse>>): Promise<void> {
    const settled = new Array<boolean>(items.length).fill(false);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.waiting = false;
      this.schedule();
    };
    try {
      for await (const ev of this.inner.sendBatch({ items: items.map((i) => i.req) }, { deadlineMs: this.o.deadlineMs })) {
        if (ev.accepted) {
          release();
          continue;
        }
        const it = items[ev.index];
        if (!it || settled[ev.index]) continue;
        settled[ev.index] = true;
        if (ev.result.case === 'ok') it.resolve(ev.result.value);
        else if (ev.result.case === 'error') it.reject(toError(ev.result.value));
        else it.reject(new ParleyError('internal', 'empty batch result'));
      }
      items.forEach((it, i) => !settled[i] && it.reject(new ParleyError('unavailable', 'the message service ended the batch early; retry')));
    } catch (err) {
      items.forEach((it, i) => !settled[i] && it.reject(err));
    } finally {
      release();
    }
  }
}

class AckBatcher {
  private readonly q: Array<Waiter<AckReq, messageV1.AckMessagesResponse>> = [];
  private inFlight = false;
  private scheduled = false;

  constructor(
    private readonly inner: MessageClient,
    private readonly o: BatchingOptions,
  ) {}

  ack(req: AckReq): Promise<messageV1.AckMessagesResponse> {
    return new Promise((resolve, reject) => {
      this.q.push({ req, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight || this.q.length === 0) return;
    const items = this.q.splice(0, this.o.maxBatch ?? 512);
    this.inFlight = true;
    this.o.onBatch?.('ack', items.length);
    try {
      const res = await this.inner.ackBatch({ acks: items.map((i) => i.req) }, { deadlineMs: this.o.deadlineMs });
      items.forEach((it, i) => {
        const e = res.errors[i];
        if (e && e.code) it.reject(toError(e));
        else it.resolve({} as messageV1.AckMessagesResponse);
      });
    } catch (err) {
      for (const it of items) it.reject(err);
    } finally {
      this.inFlight = false;
      this.schedule();
    }
  }
}

/** `inner` with sendMessage and ackMessages batched (per-call options other than the deadline are not kept). */
export function batchingMessageClient(inner: MessageClient, o: BatchingOptions): MessageClient {
  const sends = new SendBatcher(inner, o);
  const acks = new AckBatcher(inner, o);
  return {
    ...inner,
    sendMessage: (req: SendReq, _opts?: CallOptions) => sends.send(req),
    ackMessages: (req: AckReq, _opts?: CallOptions) => acks.ack(req),
  } as MessageClient;
}
