import type { ChatSequencer } from './chat-sequencer.js';
import { SendAuthorizer } from './authorizer.js';
import type { MemberRow } from './membership.js';
import type { GroupPort } from './ports.js';

// A sequencer view with a settable head and membership seq (the authorizer reads only these).
function setup() {
  const seq = { head: 10n as bigint | undefined, membershipSeq: 4n };
  const sequencer = {
    knownHead: async () => seq.head ?? 0n,
    peekHead: () => seq.head,
    membershipSeq: () => seq.membershipSeq,
  } as unknown as ChatSequencer;
  let members: MemberRow[] = [{ userId: 'bob', joinedSeq: 2n, leftSeq: 0n, pending: false }];
  let reads = 0;
  const groups: GroupPort = {
    getMembers: async () => {
      reads += 1;
      return members;
    },
    listMemberships: async () => [],
  };
  let now = 1_000;
  const auth = new SendAuthorizer(groups, sequencer, 30_000, 100, () => now);
  return {
    auth,
    seq,
    reads: () => reads,
    setMembers: (m: MemberRow[]) => (members = m),
    advance: (ms: number) => (now += ms),
  };
}

describe('SendAuthorizer.cachedMember (the ack path’s cache use)', () => {
  it('vouches only for seqs within the head this process knows, after the last membership change', async () => {
    const t = setup();
    expect(t.auth.cachedMember('c', 'bob', 5n)).toBeUndefined(); // nothing cached yet
    await t.auth.authorize('c', 'bob');
    expect(t.reads()).toBe(1);
    expect(t.auth.cachedMember('c', 'bob', 10n)).toMatchObject({ joinedSeq: 2n });
    expect(t.auth.cachedMember('c', 'bob', 11n)).toBeUndefined(); // beyond the known head: a removal may be there
    expect(t.auth.cachedMember('c', 'mallory', 5n)).toBeUndefined();
    // A membership change committed after the snapshot: the cache no longer vouches.
    t.seq.membershipSeq = 11n;
    t.seq.head = 12n;
    expect(t.auth.cachedMember('c', 'bob', 5n)).toBeUndefined();
  });

  it('expires with the cache TTL and never vouches for a pending member', async () => {
    const t = setup();
    await t.auth.authorize('c', 'bob');
    t.advance(30_001);
    expect(t.auth.cachedMember('c', 'bob', 5n)).toBeUndefined();
    t.setMembers([
      { userId: 'bob', joinedSeq: 2n, leftSeq: 0n, pending: false },
      { userId: 'carol', joinedSeq: 0n, leftSeq: 0n, pending: true },
    ]);
    await t.auth.authorize('c', 'bob', true); // snapshots with pending rows are not cached
    expect(t.auth.cachedMember('c', 'bob', 5n)).toBeUndefined();
  });
});
