// What presence needs to know about chats, from the group service, with small in-process caches:
// the current members of a chat (typing, direct-chat receipts) and whether two users are contacts
// (share a direct chat: the `contacts` lastSeen setting).
import { ParleyError, directChatId, type Client } from '@parley/kit';
import { commonV1, type groupV1 } from '@parley/proto';

export interface ChatMembers {
  type: 'direct' | 'group' | 'none';
  /** Current, final members (not pending, not left). */
  members: string[];
}

class TtlCache<V> {
  private readonly m = new Map<string, { v: V; exp: number }>();
  constructor(private readonly max: number) {}
  get(k: string, now: number): V | undefined {
    const e = this.m.get(k);
    if (!e) return undefined;
    if (e.exp <= now) {
      this.m.delete(k);
      return undefined;
    }
    return e.v;
  }
  set(k: string, v: V, exp: number): void {
    if (this.m.size >= this.max) {
      const first = this.m.keys().next();
      if (!first.done) this.m.delete(first.value);
    }
    this.m.set(k, { v, exp });
  }
  delete(k: string): void {
    this.m.delete(k);
  }
}

export interface DirectoryOptions {
  /** How long a chat's member list is reused (typing authorization, read receipt recipients). */
  membersTtlMs: number;
  contactTtlMs: number;
  nonContactTtlMs: number;
  now?: () => number;
}

export class Directory {
  private readonly members = new TtlCache<ChatMembers>(50_000);
  private readonly contacts = new TtlCache<boolean>(200_000);
  private readonly now: () => number;

  constructor(
    private readonly group: Client<typeof groupV1.GroupService>,
    private readonly opts: DirectoryOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  async chatMembers(chatId: string, fresh = false): Promise<ChatMembers> {
    const now = this.now();
    if (!fresh) {
      const hit = this.members.get(chatId, now);
      if (hit) return hit;
    }
    let res: groupV1.GetMembersResponse;
    try {
      res = await this.group.getMembers({ chatId, includeLeft: false });
    } catch (err) {
      if (!(err instanceof ParleyError && err.code === 'not_found')) throw err;
      const none: ChatMembers = { type: 'none', members: [] };
      this.members.set(chatId, none, now + Math.min(this.opts.membersTtlMs, this.opts.nonContactTtlMs));
      return none;
    }
    const type = res.type === commonV1.ChatType.DIRECT ? 'direct' : res.type === commonV1.ChatType.GROUP ? 'group' : 'none';
    const v: ChatMembers = { type, members: res.members.filter((m) => !m.pending && m.joinedSeq > 0n && m.leftSeq === 0n).map((m) => m.userId) };
    this.members.set(chatId, v, now + this.opts.membersTtlMs);
    return v;
  }

  /** Contacts = users who share a direct chat (protocol §8.6). */
  async isContact(a: string, b: string): Promise<boolean> {
    if (a === b) return true;
    const key = a < b ? `${a}\n${b}` : `${b}\n${a}`;
    const now = this.now();
    const hit = this.contacts.get(key, now);
    if (hit !== undefined) return hit;
    const chatId = directChatId(a, b);
    const m = await this.chatMembers(chatId, true);
    const yes = m.type === 'direct' && m.members.includes(a) && m.members.includes(b);
    this.contacts.set(key, yes, now + (yes ? this.opts.contactTtlMs : this.opts.nonContactTtlMs));
    return yes;
  }
}
