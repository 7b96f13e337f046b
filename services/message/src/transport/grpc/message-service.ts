// gRPC transport of parley.message.v1.MessageService: decodes requests, calls the domain, maps results.
// The gateway passes the authenticated userId/deviceId; nothing here trusts ids from a client frame.
import { create } from '@bufbuild/protobuf';
import { messageV1 } from '@parley/proto';
import type { ServiceImpl } from '@parley/kit';
import type { AppContext } from '../../context.js';
import { badRequest, unavailable } from '../../domain/errors.js';

/** Set on a send one replica forwards to the chat's sequencer: the receiver never forwards it again. */
export const FORWARDED = 'x-parley-forwarded';

export interface Forwarder {
  send(addr: string, req: messageV1.SendMessageRequest): Promise<messageV1.SendMessageResponse>;
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
  return {
    async sendMessage(req, call) {
      const started = performance.now();
      try {
        const addr = await remote(req.chatId, call.metadata[FORWARDED] === '1');
        if (addr) return await forwarder!.send(addr, req);
        // Load shedding: beyond MESSAGE_MAX_INFLIGHT_SENDS concurrent sends, refuse at once (unavailable).
        const r = await ctx.sendAdmission.run(() => ctx.sender.send({
          userId: req.userId,
          deviceId: req.deviceId,
          chatId: req.chatId,
          clientMsgId: req.clientMsgId,
          body: req.body,
          attachmentMediaIds: req.attachmentMediaIds,
          replyTo: req.replyTo,
        }));
        ctx.metrics.sends.inc({ result: r.duplicate ? 'duplicate' : 'ok' });
        return create(messageV1.SendMessageResponseSchema, {
          messageId: r.message.messageId,
          seq: r.message.seq,
          createdAt: r.message.createdAt,
          duplicate: r.duplicate,
        });
      } catch (err) {
        ctx.metrics.sends.inc({ result: (err as { code?: string }).code ?? 'error' });
        throw err;
      } finally {
        ctx.metrics.sendSeconds.observe((performance.now() - started) / 1000);
      }
    },

    async appendSystemMessage(req) {
      if (!req.system) throw badRequest('system is required');
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
