// History and read marks. History always reads membership through (never from a cache). Protocol §8.8:
// only members read a chat, so a removed (or departed) member gets not_member; a current member sees nothing
// from before it joined.
import type { commonV1 } from '@parley/proto';
import type { SendAuthorizer } from './authorizer.js';
import { badRequest, notMember } from './errors.js';
import type { GroupPort, LogReader, ReadMarksStore, ReceiptPublisher } from './ports.js';

export const DEFAULT_HISTORY_LIMIT = 50;
export const MAX_HISTORY_LIMIT = 100;

export interface HistoryQuery {
  userId: string;
  chatId: string;
  beforeSeq?: bigint | undefined;
  afterSeq?: bigint | undefined;
  limit?: number | undefined;
}

export class ChatReader {
  constructor(
    private readonly groups: GroupPort,
    private readonly log: LogReader,
    private readonly authorizer: SendAuthorizer,
    private readonly marks: ReadMarksStore,
    private readonly receipts: ReceiptPublisher,
    private readonly now: () => number = Date.now,
  ) {}

  async history(q: HistoryQuery): Promise<{ messages: commonV1.Message[]; hasMore: boolean }> {
    const limit = q.limit === undefined || q.limit === 0 ? DEFAULT_HISTORY_LIMIT : q.limit;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) throw badRequest(`limit must be 1–${MAX_HISTORY_LIMIT}`);
    if (q.beforeSeq !== undefined && q.beforeSeq < 1n) throw badRequest('beforeSeq must be positive');
    if (q.afterSeq !== undefined && q.afterSeq < 0n) throw badRequest('afterSeq must not be negative');
    const rows = await this.groups.getMembers(q.chatId, true);
    const m = rows.find((r) => r.userId === q.userId);
    if (!m || m.pending || m.joinedSeq <= 0n || m.leftSeq !== 0n) throw notMember();
    const lo = m.joinedSeq - 1n; // exclusive
    if (q.afterSeq !== undefined) {
      const after = q.afterSeq > lo ? q.afterSeq : lo;
      const upTo = q.beforeSeq === undefined ? undefined : q.beforeSeq - 1n;
      if (upTo !== undefined && upTo <= after) return { messages: [], hasMore: false };
      const got = await this.log.readAfter(q.chatId, after, upTo, limit + 1);
      return { messages: got.slice(0, limit), hasMore: got.length > limit };
    }
    let top: bigint;
    if (q.beforeSeq !== undefined) top = q.beforeSeq - 1n;
    else top = await this.log.findHead(q.chatId, await this.log.headHint(q.chatId));
    if (top <= lo) return { messages: [], hasMore: false };
    const got = await this.log.readBefore(q.chatId, top, lo, limit + 1);
    const page = got.slice(0, limit).reverse();
    return { messages: page, hasMore: got.length > limit };
  }

  /** Everything up to `seq` is read by this user (clamped to the chat's head). */
  async markRead(userId: string, chatId: string, seq: bigint): Promise<void> {
    if (seq < 1n) throw badRequest('seq must be positive');
    const { member } = await this.authorizer.authorize(chatId, userId, true); // fresh: never a stale cache after a removal
    const head = await this.log.findHead(chatId, await this.log.headHint(chatId));
    const upTo = seq < head ? seq : head;
    if (upTo < member.joinedSeq) return;
    const at = this.now();
    await this.receipts.publishRead(chatId, userId, upTo, at);
    await this.marks.writeReadMark(chatId, userId, upTo, at);
  }
}
