// Typing (protocol §8.7): ephemeral, never stored beyond its lapse time, relayed only to the live
// connections of the other current members. A `typing` state lapses PRESENCE_TYPING_TTL_MS (6 s) after the
// last refresh, and the other members then get `paused` from the sweep. Refreshes within REFRESH_QUIET_MS
// of the previous one only extend the lapse (no new frame). Chats with more than PRESENCE_TYPING_MAX_MEMBERS
// members get no typing at all (the request still succeeds). Per-device rate limits are the gateway's
// (`typing` class).
import { errors } from '@parley/kit';
import type { DeliveryPort, LivePort } from './ports.js';
import type { Directory } from './directory.js';

export const REFRESH_QUIET_MS = 2000;

export interface TypingOptions {
  ttlMs: number;
  maxMembers: number;
  now?: () => number;
}

export class TypingRelay {
  private readonly now: () => number;

  constructor(
    private readonly live: LivePort,
    private readonly directory: Directory,
    private readonly bus: DeliveryPort,
    private readonly opts: TypingOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  async set(userId: string, chatId: string, typing: boolean): Promise<void> {
    if (!chatId) throw errors.badRequest('chatId is required');
    let chat = await this.directory.chatMembers(chatId);
    if (!chat.members.includes(userId)) chat = await this.directory.chatMembers(chatId, true); // never a stale "no"
    if (!chat.members.includes(userId)) throw errors.notMember();
    if (chat.members.length > this.opts.maxMembers) return;
    const now = this.now();
    if (typing) {
      const prevLapse = await this.live.typingOn(chatId, userId, now + this.opts.ttlMs);
      if (prevLapse !== undefined && prevLapse > now && prevLapse - this.opts.ttlMs > now - REFRESH_QUIET_MS) return;
    } else if (!(await this.live.typingOff(chatId, userId))) {
      return;
    }
    await this.relay(chatId, userId, typing, chat.members);
  }

  private async relay(chatId: string, userId: string, typing: boolean, members: string[]): Promise<void> {
    const others = members.filter((m) => m !== userId);
    const conns = await this.live.connections(others);
    await this.bus.send(conns, { case: 'typing', value: { chatId, userId, typing } });
  }

  /** Sends `paused` for every typing state that lapsed. */
  async sweep(): Promise<number> {
    const lapsed = await this.live.claimLapsedTyping(this.now(), 200);
    for (const [chatId, userId] of lapsed) {
      const chat = await this.directory.chatMembers(chatId);
      if (chat.members.length <= this.opts.maxMembers) await this.relay(chatId, userId, false, chat.members);
    }
    return lapsed.length;
  }
}
