import { commonV1 } from '@parley/proto';
import { FanoutRouter, type DeliverySink } from './fanout-router.js';
import type { GroupPort, RoutesPort } from './ports.js';
import type { MemberRow } from './membership.js';
import { systemMsg, userMsg } from './fakes.test-support.js';

describe('FanoutRouter', () => {
  function setup(initial: MemberRow[]) {
    let members = initial;
    let fetches = 0;
    const groups: GroupPort = { getMembers: async () => (fetches++, members), listMemberships: async () => [] };
    const routes: RoutesPort = {
      getDeviceRoutes: async (users) => users.map((u) => ({ userId: u, deviceId: `${u}-d`, online: u !== 'carol', gatewayId: u === 'bob' ? 'g2' : 'g1', connectionId: `${u}-k` })),
    };
    const sent: Array<{ gw: string; users: string[]; seq: bigint }> = [];
    const pushed: string[] = [];
    const sink: DeliverySink = {
      toGateway: async (gw, targets, m) => void sent.push({ gw, users: targets.map((t) => t.userId).sort(), seq: m.seq }),
      toPush: async (_m, devices) => void pushed.push(...devices.map((d) => d.userId)),
    };
    const router = new FanoutRouter(groups, routes, sink, { ttlMs: 60_000 });
    return { router, sent, pushed, setMembers: (m: MemberRow[]) => (members = m), fetches: () => fetches };
  }
  const row = (userId: string, joinedSeq: bigint, leftSeq = 0n, pending = false) => ({ userId, joinedSeq, leftSeq, pending });

  it('one delivery per gateway, push for offline, cache reused for the next seq only', async () => {
    const t = setup([row('alice', 1n), row('bob', 1n), row('carol', 1n)]);
    await t.router.route({ ...userMsg('c', 'alice', 'x', 'other-device'), seq: 1n });
    expect(t.sent).toEqual([{ gw: 'g1', users: ['alice'], seq: 1n }, { gw: 'g2', users: ['bob'], seq: 1n }]);
    expect(t.pushed).toEqual(['carol']);
    await t.router.route({ ...userMsg('c', 'alice'), seq: 2n });
    expect(t.fetches()).toBe(1);
    await t.router.route({ ...userMsg('c', 'alice'), seq: 4n }); // a gap: read through
    expect(t.fetches()).toBe(2);
  });

  it('after a removal at n, the removed user gets n and nothing later', async () => {
    const t = setup([row('alice', 1n), row('bob', 1n)]);
    await t.router.route({ ...userMsg('c', 'alice'), seq: 1n });
    // bob removed at 2: the group row is still pending when 2 is routed
    t.setMembers([row('alice', 1n), row('bob', 1n, 0n, true)]);
    await t.router.route({ ...systemMsg('c', commonV1.SystemAction.MEMBERS_REMOVED, ['bob']), seq: 2n });
    t.setMembers([row('alice', 1n), row('bob', 1n, 2n)]);
    await t.router.route({ ...userMsg('c', 'alice', 'x', 'other'), seq: 3n });
    const bobSeqs = t.sent.filter((s) => s.users.includes('bob')).map((s) => s.seq);
    expect(bobSeqs).toEqual([1n, 2n]);
  });
});
