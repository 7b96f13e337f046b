import { commonV1 } from '@parley/proto';
import { recipientsOf, canSend, sees } from './membership.js';
import { planDelivery } from './fanout.js';
import { systemMsg, userMsg } from './fakes.test-support.js';

const row = (userId: string, joinedSeq: bigint, leftSeq = 0n, pending = false) => ({ userId, joinedSeq, leftSeq, pending });

describe('recipients', () => {
  const members = [row('a', 1n), row('b', 5n), row('c', 1n, 7n), row('d', 3n, 0n, true), row('e', 0n, 0n, true)];

  it('are the members whose [joined, left] contains the seq, excluding pending rows', () => {
    expect(recipientsOf({ ...userMsg('x', 'a'), seq: 4n }, members).sort()).toEqual(['a', 'c']);
    expect(recipientsOf({ ...userMsg('x', 'a'), seq: 5n }, members).sort()).toEqual(['a', 'b', 'c']);
    expect(recipientsOf({ ...userMsg('x', 'a'), seq: 7n }, members).sort()).toEqual(['a', 'b', 'c']);
    expect(recipientsOf({ ...userMsg('x', 'a'), seq: 8n }, members).sort()).toEqual(['a', 'b']);
  });

  it('include the affected users of a membership message even while pending', () => {
    const removed = { ...systemMsg('x', commonV1.SystemAction.MEMBERS_REMOVED, ['d']), seq: 9n };
    expect(recipientsOf(removed, members).sort()).toEqual(['a', 'b', 'd']);
    const added = { ...systemMsg('x', commonV1.SystemAction.MEMBERS_ADDED, ['e']), seq: 9n };
    expect(recipientsOf(added, members).sort()).toEqual(['a', 'b', 'e']);
    const renamed = { ...systemMsg('x', commonV1.SystemAction.RENAMED, ['e']), seq: 9n };
    expect(recipientsOf(renamed, members).sort()).toEqual(['a', 'b']);
  });

  it('send rights need a final, current membership', () => {
    expect(canSend(row('a', 1n))).toBe(true);
    expect(canSend(row('a', 1n, 4n))).toBe(false);
    expect(canSend(row('a', 1n, 0n, true))).toBe(false);
    expect(canSend(row('a', 0n))).toBe(false);
    expect(canSend(undefined)).toBe(false);
    expect(sees(row('a', 0n), 0n)).toBe(false);
  });
});

describe('planDelivery', () => {
  it('groups online devices by gateway, excludes the sending device only, pushes the offline', () => {
    const msg = { ...userMsg('c', 'a', 'hi', 'a-phone'), seq: 1n };
    const routes = [
      { userId: 'a', deviceId: 'a-phone', online: true, gatewayId: 'g1', connectionId: 'k1' },
      { userId: 'a', deviceId: 'a-laptop', online: true, gatewayId: 'g2', connectionId: 'k2' },
      { userId: 'b', deviceId: 'b-phone', online: true, gatewayId: 'g1', connectionId: 'k3' },
      { userId: 'b', deviceId: 'b-tab', online: false, gatewayId: '', connectionId: '' },
      { userId: 'z', deviceId: 'z-phone', online: true, gatewayId: 'g1', connectionId: 'k4' },
    ];
    const plan = planDelivery(msg, new Set(['a', 'b']), routes);
    expect([...plan.byGateway.keys()].sort()).toEqual(['g1', 'g2']);
    expect(plan.byGateway.get('g1')).toEqual([{ userId: 'b', deviceId: 'b-phone', connectionId: 'k3' }]);
    expect(plan.byGateway.get('g2')).toEqual([{ userId: 'a', deviceId: 'a-laptop', connectionId: 'k2' }]);
    expect(plan.offline).toEqual([{ userId: 'b', deviceId: 'b-tab' }]);
  });
});
