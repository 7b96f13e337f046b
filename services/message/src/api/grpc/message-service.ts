// gRPC transport of parley.message.v1.MessageService: decodes requests, calls the domain, maps results.
// The gateway passes the authenticated userId/deviceId; nothing here trusts ids from a client frame.
import { create } from '@bufbuild/protobuf';
import { messageV1 } from '@parley/proto';
import { asParleyError, type ServiceImpl } from '@parley/kit';
import type { AppContext } from '../../wiring.js';
import type { SendResult } from '../../domain/message-sender.js';
import { badRequest, unavailable } from '../../domain/errors.js';

/** Set on a send one replica forwards to the chat's sequencer: the receiver never forwards it again. */
export const FORWARDED = 'x-parley-forwarded';
/** Items per SendBatch / entries per AckBatch. */
export const MAX_BATCH = 1024;

export interface Forwarder {
  send(addr: string, req: messageV1.SendMessageRequest): Promise<messageV1.SendMessageResponse>;
  appendSystem(addr: string, req: messageV1.AppendSystemMessageRequest): Promise<messageV1.AppendSystemMessageResponse>;
}

export function messageServiceImpl(ctx: AppContext, forwarder?: Forwarder): ServiceImpl<typeof messageV1.MessageService> {
  /** Where a chat's sends go: here (undefined) or the replica holding its shard. */
  const remote = async (chatId: string, forwarded: boolean): Promise<string | undefined> => {
    if (ctx.leases.lease(chatId)) return undefined;
    let addr = ctx.leases.remoteOwnerAddr(chatId);
    if (!addr) {
      // Changing hands (a start, a crashed holder): wait for this round of the leases to settle.
      await ctx.leases.settle(chatId, ctx.cfg.sequencerLeaseMs + 1000);
      if (ctx.leases.lease(chatId)) return undefined;
      addr = ctx.leases.remoteOwnerAddr(chatId);
    }
    if (!addr || forwarded || !forwarder) throw unavailable('this chat has no sequencer right now; retry');
    return addr;
  };
  /**
   * One send. When this process holds the chat's shard the send is queued in the sequencer synchronously,
   * before this returns (SendBatch relies on it for order); otherwise it waits for the shard to settle or
   * goes to the holder.
   */
  const sendOne = (req: messageV1.SendMessageRequest, forwarded: boolean): Promise<messageV1.SendMessageResponse> => {
    const started = performance.now();
    const local = () =>
      // Load shedding: beyond MESSAGE_MAX_INFLIGHT_SENDS concurrent sends, refuse at once (unavailable).
      ctx.sendAdmission.run(() =>
        ctx.sender.send({
          userId: req.userId,
          deviceId: req.deviceId,
          chatId: req.chatId,
          clientMsgId: req.clientMsgId,
          body: req.body,
          attachmentMediaIds: req.attachmentMediaIds,
          replyTo: req.replyTo,
        }),
      );
    type Done = SendResult | { forwardedReply: messageV1.SendMessageResponse };
    const done: Promise<Done> = ctx.leases.lease(req.chatId)
      ? local()
      : remote(req.chatId, forwarded).then((addr): Promise<Done> => (addr ? forwarder!.send(addr, req).then((r) => ({ forwardedReply: r })) : local()));
    return done.then(
      (r) => {
        ctx.metrics.sendSeconds.observe((performance.now() - started) / 1000);
        if ('forwardedReply' in r) return r.forwardedReply;
        ctx.metrics.sends.inc({ result: r.duplicate ? 'duplicate' : 'ok' });
        return create(messageV1.SendMessageResponseSchema, { messageId: r.message.messageId, seq: r.message.seq, createdAt: r.message.createdAt, duplicate: r.duplicate });
      },
      (err: unknown) => {
        ctx.metrics.sendSeconds.observe((performance.now() - started) / 1000);
        ctx.metrics.sends.inc({ result: (err as { code?: string }).code ?? 'error' });
        throw err;
      },
    );
  };
  const callError = (err: unknown): messageV1.CallError => {
    const pe = asParleyError(err);
    return create(messageV1.CallErrorSchema, { code: pe.code, message: pe.message, retryAfterMs: BigInt(pe.retryAfterMs ?? 0) });
  };
  return {
    sendMessage(req, call) {
      return sendOne(req, call.metadata[FORWARDED] === '1');
    },

    async *sendBatch(req, call) {
      if (req.items.length > MAX_BATCH) throw badRequest(`at most ${MAX_BATCH} items`);
      const forwarded = call.metadata[FORWARDED] === '1';
      const events: messageV1.SendBatchEvent[] = [];
      let wake: (() => void) | undefined;
      const push = (e: messageV1.SendBatchEvent) => {
        events.push(e);
        wake?.();
      };
      // Every item is queued (in order) before the first event goes out.
      req.items.forEach((item, index) => {
        let p: Promise<messageV1.SendMessageResponse>;
        try {
          p = sendOne(item, forwarded);
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then(
          (ok) => push(create(messageV1.SendBatchEventSchema, { index, result: { case: 'ok', value: ok } })),
          (err: unknown) => push(create(messageV1.SendBatchEventSchema, { index, result: { case: 'error', value: callError(err) } })),
        );
      });
      yield create(messageV1.SendBatchEventSchema, { accepted: true });
      let left = req.items.length;
      while (left > 0) {
        if (events.length === 0) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const batch = events.splice(0);
        left -= batch.length;
        for (const e of batch) yield e;
      }
    },

    async ackBatch(req) {
      if (req.acks.length > MAX_BATCH) throw badRequest(`at most ${MAX_BATCH} entries`);
      const errors = await Promise.all(
        req.acks.map(async (a) => {
          try {
            if (!a.userId || !a.deviceId) throw badRequest('userId and deviceId are required');
            await ctx.inbox.ack(a.userId, a.deviceId, a.items);
            ctx.metrics.acks.inc(a.items.length);
            return create(messageV1.CallErrorSchema, {});
          } catch (err) {
            return callError(err);
          }
        }),
      );
      return create(messageV1.AckBatchResponseSchema, { errors });
    },

    async appendSystemMessage(req, call) {
      if (!req.system) throw badRequest('system is required');
      // Like a send: sequenced by the replica holding the chat's shard (one hop there if that is not this one).
      const addr = ctx.leases.lease(req.chatId) ? undefined : await remote(req.chatId, call.metadata[FORWARDED] === '1');
      if (addr) return forwarder!.appendSystem(addr, req);
      const r = await ctx.sender.appendSystem(req.chatId, req.idempotencyKey, req.system);
      return create(messageV1.AppendSystemMessageResponseSchema, { message: r.message, duplicate: r.duplicate });
    },

    async ackMessages(req) {
      if (!req.userId || !req.deviceId) throw badRequest('userId and deviceId are required');
      await ctx.inbox.ack(req.userId, req.deviceId, req.items);
      ctx.metrics.acks.inc(req.items.length);
      return create(messageV1.AckMessagesResponseSchema, {});
    },

    async markRead(req) {
      if (!req.userId || !req.chatId) throw badRequest('userId and chatId are required');
      await ctx.reader.markRead(req.userId, req.chatId, req.seq);
      return create(messageV1.MarkReadResponseSchema, {});
    },

    async getHistory(req) {
      if (!req.userId || !req.chatId) throw badRequest('userId and chatId are required');
      const r = await ctx.reader.history({ userId: req.userId, chatId: req.chatId, beforeSeq: req.beforeSeq, afterSeq: req.afterSeq, limit: req.limit });
      return create(messageV1.GetHistoryResponseSchema, { messages: r.messages, hasMore: r.hasMore });
    },

    async getChatHeads(req) {
      if (req.chatIds.length > 1000) throw badRequest('at most 1000 chatIds');
      const heads = await ctx.heads.get(req.chatIds);
      return create(messageV1.GetChatHeadsResponseSchema, {
        heads: heads.map((h) => {
          const known = ctx.sequencer.peekHead(h.chatId);
          return { chatId: h.chatId, lastSeq: known !== undefined && known > h.lastSeq ? known : h.lastSeq, lastActivityAt: BigInt(h.lastActivityAt) };
        }),
      });
    },

    async *streamBacklog(req, call) {
      if (!req.userId || !req.deviceId) throw badRequest('userId and deviceId are required');
      // Pull-based: the generator yields one message at a time, so a slow gateway slows the read.
      let count = 0;
      for await (const message of ctx.inbox.backlogIter(req.userId, req.deviceId, call.signal)) {
        count += 1;
        yield create(messageV1.StreamBacklogResponseSchema, { message });
      }
      ctx.metrics.backlogMessages.inc(count);
    },
  };
}
