// The message service client the gateway uses: `sendMessage` and `ackMessages` are batched across all
// connections of this gateway (docs/architecture.md §3, "Batching at every hop"), everything else passes
// through. Callers see the unary API unchanged.
//
// Sends: group commit over SendBatch. While one call waits for its `accepted` event (its items are queued in
// their chats' sequencers, in order), new sends queue here; the next call starts when that event arrives.
// So calls are strictly ordered, which keeps a connection's sends to one chat in arrival order, and the
// batch size follows the load (1 when idle, more under load) without a timer adding latency.
// Acks: the same, over AckBatch (one call in flight; acks of many devices per call).
import { GroupCommit, ParleyError, isErrorCode, type CallOptions, type Client, type Pending } from '@parley/kit';
import type { messageV1 } from '@parley/proto';

type MessageClient = Client<typeof messageV1.MessageService>;
type SendReq = Parameters<MessageClient['sendMessage']>[0];
type AckReq = Parameters<MessageClient['ackMessages']>[0];

export interface BatchingOptions {
  /** Deadline of one batch call (ms). */
  deadlineMs: number;
  /** Items per call. */
  maxBatch?: number;
  onBatch?: (kind: 'send' | 'ack', size: number) => void;
}

const toError = (e: messageV1.CallError): ParleyError =>
  new ParleyError(isErrorCode(e.code) ? e.code : 'internal', e.message || e.code, e.retryAfterMs > 0n ? { retryAfterMs: Number(e.retryAfterMs) } : {});

/** One batch call in flight at a time (the kit's GroupCommit, gathering one turn of the event loop first). */
abstract class Batcher<Req, Res> {
  private readonly gc: GroupCommit<Req, Res>;

  constructor(
    protected readonly inner: MessageClient,
    protected readonly o: BatchingOptions,
    kind: 'send' | 'ack',
  ) {
    this.gc = new GroupCommit<Req, Res>((items, release) => this.run(items, release), {
      maxBatch: o.maxBatch ?? 512,
      gatherTurn: true,
      onBatch: (n) => o.onBatch?.(kind, n),
    });
  }

  enqueue(req: Req): Promise<Res> {
    return this.gc.enqueue(req);
  }

  /** The batch call for `items`, settling each; `release` lets the next call start (at the latest, when this one ends). */
  protected abstract run(items: Array<Pending<Req, Res>>, release: () => void): Promise<void>;
}

/** Sends: the next call starts when this one's `accepted` event arrives (its items are in their sequencers). */
class SendBatcher extends Batcher<SendReq, messageV1.SendMessageResponse> {
  protected async run(items: Array<Pending<SendReq, messageV1.SendMessageResponse>>, release: () => void): Promise<void> {
    const settled = new Array<boolean>(items.length).fill(false);
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
    }
  }
}

/** Acks: the next call starts when this one answered. */
class AckBatcher extends Batcher<AckReq, messageV1.AckMessagesResponse> {
  protected async run(items: Array<Pending<AckReq, messageV1.AckMessagesResponse>>): Promise<void> {
    try {
      const res = await this.inner.ackBatch({ acks: items.map((i) => i.req) }, { deadlineMs: this.o.deadlineMs });
      items.forEach((it, i) => {
        const e = res.errors[i];
        if (e && e.code) it.reject(toError(e));
        else it.resolve({} as messageV1.AckMessagesResponse);
      });
    } catch (err) {
      for (const it of items) it.reject(err);
    }
  }
}

/** `inner` with sendMessage and ackMessages batched (per-call options other than the deadline are not kept). */
export function batchingMessageClient(inner: MessageClient, o: BatchingOptions): MessageClient {
  const sends = new SendBatcher(inner, o, 'send');
  const acks = new AckBatcher(inner, o, 'ack');
  return {
    ...inner,
    sendMessage: (req: SendReq, _opts?: CallOptions) => sends.enqueue(req),
    ackMessages: (req: AckReq, _opts?: CallOptions) => acks.enqueue(req),
  } as MessageClient;
}
