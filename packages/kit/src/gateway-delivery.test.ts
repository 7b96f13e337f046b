import { groupByGateway } from './gateway-delivery.js';

describe('groupByGateway', () => {
  it('groups online routes by gateway in the order given and leaves out offline ones and those on no gateway', () => {
    const r = (userId: string, gatewayId: string, online = true) => ({ userId, deviceId: `${userId}-d`, connectionId: `${userId}-c`, gatewayId, online });
    const got = groupByGateway([r('a', 'g1'), r('b', 'g2'), r('c', 'g1'), r('d', 'g1', false), r('e', '')]);
    expect([...got.keys()]).toEqual(['g1', 'g2']);
    expect(got.get('g1')!.map((x) => x.userId)).toEqual(['a', 'c']);
    expect(got.get('g2')!.map((x) => x.userId)).toEqual(['b']);
  });

  it('treats targets without an online flag (live connections) as online', () => {
    expect(groupByGateway([{ gatewayId: 'g', userId: 'u' }]).get('g')).toHaveLength(1);
  });
});
