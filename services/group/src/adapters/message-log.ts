// The message service as the chat sequence: AppendSystemMessage (idempotent by key) and GetChatHeads.
import type { Client } from '@parley/kit';
import { messageV1 } from '@parley/proto';
import type { ChatHead, MessageLog, SystemEvent } from '../domain/model.js';
import { systemInfoToProto } from './proto-convert.js';

export class MessageServiceLog implements MessageLog {
  constructor(private readonly client: Client<typeof messageV1.MessageService>) {}

  async appendSystemMessage(chatId: string, key: string, event: SystemEvent): Promise<number> {
    const res = await this.client.appendSystemMessage({ chatId, idempotencyKey: key, system: systemInfoToProto(event) });
    const seq = Number(res.message?.seq ?? 0n);
    if (seq <= 0) throw new Error(`AppendSystemMessage returned no seq for chat ${chatId}`);
    return seq;
  }

  async getChatHeads(chatIds: string[]): Promise<Map<string, ChatHead>> {
    const out = new Map<string, ChatHead>();
    if (chatIds.length === 0) return out;
    const res = await this.client.getChatHeads({ chatIds });
    for (const h of res.heads) out.set(h.chatId, { chatId: h.chatId, lastSeq: Number(h.lastSeq), lastActivityAt: Number(h.lastActivityAt) });
    return out;
  }
}
