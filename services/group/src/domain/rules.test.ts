import { ParleyError } from '@parley/kit';
import type { ChatRecord, MemberRecord, Role } from './model.js';
import { directChatId, planAdd, planGroupMembers, planRemove, planRename, planRole, validateName } from './rules.js';

const group: ChatRecord = { chatId: 'g1', type: 'group', name: 'g', createdAt: 1, createdBy: 'a' };
const direct: ChatRecord = { chatId: 'd1', type: 'direct', createdAt: 1, createdBy: 'a' };

function members(spec: Record<string, Role | `${Role}:left` | `${Role}:pending`>): Map<string, MemberRecord> {
  const m = new Map<string, MemberRecord>();
  let seq = 1;
  for (const [userId, s] of Object.entries(spec)) {
    const [role, state] = s.split(':') as [Role, string | undefined];
    m.set(userId, {
      chatId: 'g1',
      userId,
      role,
      joinedSeq: state === 'pending' ? 0 : seq++,
      leftSeq: state === 'left' ? 99 : 0,
      pending: state === 'pending',
    });
  }
  return m;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof ParleyError) return e.code;
    throw e;
  }
  return undefined;
}

describe('direct chat ids', () => {
  it('are the same for both orders and differ between pairs', () => {
    expect(directChatId('alice', 'bob')).toBe(directChatId('bob', 'alice'));
    expect(directChatId('alice', 'bob')).not.toBe(directChatId('alice', 'carol'));
    expect(directChatId('a|b', 'c')).not.toBe(directChatId('a', 'b|c'));
    expect(directChatId('alice', 'bob')).toMatch(/^d_[A-Za-z0-9_-]{27}$/);
  });
});

describe('names', () => {
  it('accept 1–128 characters, trimmed, counting code points', () => {
    expect(validateName('  Team  ')).toBe('Team');
    expect(validateName('😀'.repeat(128))).toHaveLength(256);
    expect(code(() => validateName('   '))).toBe('bad_request');
    expect(code(() => validateName('x'.repeat(129)))).toBe('bad_request');
    expect(code(() => validateName('a\nb'))).toBe('bad_request');
  });
});

describe('who may do what', () => {
  const m = members({ a: 'admin', b: 'member', c: 'member', gone: 'member:left' });

  it('adding: admins only, members get forbidden, outsiders not_member, direct chats bad_request', () => {
    expect(planAdd(group, m, 'a', ['x', 'y', 'x'], 1024)).toEqual(['x', 'y']);
    expect(code(() => planAdd(group, m, 'b', ['x'], 1024))).toBe('forbidden');
    expect(code(() => planAdd(group, m, 'zz', ['x'], 1024))).toBe('not_member');
    expect(code(() => planAdd(group, m, 'gone', ['x'], 1024))).toBe('not_member');
    expect(code(() => planAdd(direct, m, 'a', ['x'], 1024))).toBe('bad_request');
    expect(code(() => planAdd(group, m, 'a', [], 1024))).toBe('bad_request');
  });

  it('adding existing members is a no-op; a former member can be re-added', () => {
    expect(planAdd(group, m, 'a', ['b', 'c'], 1024)).toEqual([]);
    expect(planAdd(group, m, 'a', ['gone'], 1024)).toEqual(['gone']);
  });

  it('adding beyond the cap is a conflict (pending joiners count)', () => {
    const full = members({ a: 'admin', b: 'member', p: 'member:pending' });
    expect(planAdd(group, full, 'a', ['x'], 4)).toEqual(['x']);
    expect(code(() => planAdd(group, full, 'a', ['x', 'y'], 4))).toBe('conflict');
    expect(planAdd(group, full, 'a', ['b'], 3)).toEqual([]); // no-op even when full
  });

  it('removing: admins remove anyone, members only themselves, non-members are skipped', () => {
    expect(planRemove(group, m, 'a', ['b', 'nobody', 'gone'])).toEqual({ toRemove: ['b'] });
    expect(planRemove(group, m, 'b', ['b'])).toEqual({ toRemove: ['b'] });
    expect(code(() => planRemove(group, m, 'b', ['c']))).toBe('forbidden');
    expect(code(() => planRemove(group, m, 'b', ['b', 'c']))).toBe('forbidden');
    expect(code(() => planRemove(group, m, 'zz', ['zz']))).toBe('not_member');
  });

  it('the last admin leaving promotes the longest-standing member', () => {
    expect(planRemove(group, m, 'a', ['a'])).toEqual({ toRemove: ['a'], promote: 'b' });
    const two = members({ a: 'admin', b: 'admin', c: 'member' });
    expect(planRemove(group, two, 'a', ['a'])).toEqual({ toRemove: ['a'] });
    expect(planRemove(group, two, 'a', ['a', 'b'])).toEqual({ toRemove: ['a', 'b'], promote: 'c' });
    const alone = members({ a: 'admin' });
    expect(planRemove(group, alone, 'a', ['a'])).toEqual({ toRemove: ['a'] });
  });

  it('roles: admins only; demoting the last admin is a conflict; same role is a no-op', () => {
    expect(planRole(group, m, 'a', 'b', 'admin')).toBe('admin');
    expect(planRole(group, m, 'a', 'b', 'member')).toBeUndefined();
    expect(code(() => planRole(group, m, 'a', 'a', 'member'))).toBe('conflict');
    expect(code(() => planRole(group, m, 'b', 'c', 'admin'))).toBe('forbidden');
    expect(code(() => planRole(group, m, 'a', 'gone', 'admin'))).toBe('bad_request');
    const two = members({ a: 'admin', b: 'admin' });
    expect(planRole(group, two, 'b', 'a', 'member')).toBe('member');
  });

  it('renaming: group admins only; the same name is a no-op', () => {
    expect(planRename(group, m, 'a', 'new')).toBe('new');
    expect(planRename(group, m, 'a', ' g ')).toBeUndefined();
    expect(code(() => planRename(group, m, 'b', 'new'))).toBe('forbidden');
    expect(code(() => planRename(direct, m, 'a', 'new'))).toBe('bad_request');
  });

  it('group creation: the creator is dropped from members; the cap includes the creator', () => {
    expect(planGroupMembers('a', ['b', 'a', 'c', 'b'], 1024)).toEqual(['b', 'c']);
    const ids = Array.from({ length: 1023 }, (_, i) => `u${i}`);
    expect(planGroupMembers('a', ids, 1024)).toHaveLength(1023);
    expect(code(() => planGroupMembers('a', [...ids, 'one-more'], 1024))).toBe('bad_request');
    expect(code(() => planGroupMembers('a', [''], 1024))).toBe('bad_request');
  });
});
