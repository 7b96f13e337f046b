// In-memory fakes of the domain ports for unit tests (no I/O).
import { create } from '@bufbuild/protobuf';
import { commonV1 } from '@parley/proto';
import type { SequencerStore } from './chat-sequencer.js';
import { changesMembership } from './membership.js';

export class FakeLog implements SequencerStore {
  readonly rows = new Map<string, Map<bigint, commonV1.Message>>();
  heads = new Map<string, bigint>();
  insertCalls = 0;
  /** Hook run before each insert (to let a "foreign instance" commit first). */
  beforeInsert: ((chatId: string, msgs: commonV1.Message[]) => Promise<void> | void) | undefined;

  chat(chatId: string): Map<bigint, commonV1.Message> {
    let m = this.rows.get(chatId);
    if (!m) this.rows.set(chatId, (m = new Map()));
    return m;
  }
  async headHint(chatId: string): Promise<bigint> {
    return this.heads.get(chatId) ?? 0n;
  }
  async findHead(chatId: string, from: bigint): Promise<bigint> {
    let h = from > 0n ? from - 1n : 0n;
    const c = this.chat(chatId);
    while (c.has(h + 1n)) h += 1n;
    return h;
  }
  /** Write timestamps of fenced (plain) writes, by chat#seq: the highest wins, as in Cassandra. */
  readonly stamps = new Map<string, bigint>();
  async insertBatch(chatId: string, msgs: commonV1.Message[], writeTimestamp?: bigint): Promise<boolean> {
    this.insertCalls += 1;
    await this.beforeInsert?.(chatId, msgs);
    const c = this.chat(chatId);
    if (writeTimestamp !== undefined) {
      for (const m of msgs) {
        const k = `${chatId}#${m.seq}`;
        if ((this.stamps.get(k) ?? -1n) > writeTimestamp) continue;
        this.stamps.set(k, writeTimestamp);
        c.set(m.seq, m);
      }
      return true;
    }
    if (msgs.some((m) => c.has(m.seq))) return false;
    for (const m of msgs) c.set(m.seq, m);
    return true;
  }
  async readBefore(chatId: string, from: bigint, after: bigint, limit: number): Promise<commonV1.Message[]> {
    const out: commonV1.Message[] = [];
    const c = this.chat(chatId);
    for (let s = from; s > after && out.length < limit; s -= 1n) {
      const m = c.get(s);
      if (m) out.push(m);
    }
    return out;
  }
  async membershipChangedIn(chatId: string, after: bigint, upTo: bigint): Promise<boolean> {
    const c = this.chat(chatId);
    for (let s = after + 1n; s <= upTo; s += 1n) {
      const m = c.get(s);
      if (m && changesMembership(m)) return true;
    }
    return false;
  }
}

let n = 0;
export function userMsg(chatId: string, userId: string, text = 'hi', deviceId = 'd1'): commonV1.Message {
  n += 1;
  return create(commonV1.MessageSchema, {
    chatId,
    messageId: `m${n}`,
    kind: commonV1.MessageKind.USER,
    sender: { userId, deviceId },
    clientMsgId: `client-${n}`,
    body: { content: { case: 'text', value: text } },
    createdAt: BigInt(Date.now()),
  });
}

export function systemMsg(chatId: string, action: commonV1.SystemAction, userIds: string[], actor = 'admin'): commonV1.Message {
  n += 1;
  return create(commonV1.MessageSchema, {
    chatId,
    messageId: `s${n}`,
    kind: commonV1.MessageKind.SYSTEM,
    sender: { userId: actor, deviceId: '' },
    clientMsgId: `sys-${n}`,
    body: {},
    createdAt: BigInt(Date.now()),
    system: { action, actor, userIds },
  });
}
