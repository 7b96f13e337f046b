// The group service, adapted to the media domain's MembersPort.
import { createClient, ParleyError, type Client } from '@parley/kit';
import { groupV1 } from '@parley/proto';
import type { MembersPort } from '../domain/ports.js';
import type { MemberView } from '../domain/access.js';

export class GroupPeer implements MembersPort {
  constructor(readonly client: Client<typeof groupV1.GroupService>) {}

  static connect(addr: string): GroupPeer {
    return new GroupPeer(createClient(groupV1.GroupService, addr, { deadlineMs: 5000 }));
  }

  async getMembers(chatId: string): Promise<MemberView[]> {
    try {
      const r = await this.client.getMembers({ chatId, includeLeft: false });
      return r.members.filter((m) => m.leftSeq === 0n).map((m) => ({ userId: m.userId, joinedSeq: Number(m.joinedSeq), pending: m.pending }));
    } catch (err) {
      if (err instanceof ParleyError && (err.code === 'not_found' || err.code === 'not_member')) return [];
      throw err;
    }
  }

  close(): void {
    this.client.close();
  }
}
