import { ParleyError } from '@parley/kit';
import type { AccountsPort, DeviceRow, LiveConnection, NotifierPort, RefreshRow, RegistryPort, Route, UserRow } from './ports.js';
import { SessionManager, type AccessTokenSigner } from './session-manager.js';
import { inProcessHasher } from './passwords.js';

class FakeAccounts implements AccountsPort {
  users = new Map<string, UserRow>();
  usernames = new Map<string, string>();
  devices = new Map<string, DeviceRow>();
  refresh = new Map<string, RefreshRow>();
  /** Simulates losing the LWT to a concurrent creator that the early read did not see. */
  loseNextClaim = false;
  /** Simulates a concurrent refresh that wins the LWT between our read and our write. */
  loseNextMarkUsed = false;

  async createUser(u: UserRow) {
    this.users.set(u.userId, u);
  }
  async claimUsername(username: string, userId: string) {
    if (this.loseNextClaim || this.usernames.has(username)) {
      this.loseNextClaim = false;
      return false;
    }
    this.usernames.set(username, userId);
    return true;
  }
  async deleteUser(userId: string) {
    this.users.delete(userId);
  }
  async userIdByUsername(username: string) {
    return this.usernames.get(username);
  }
  async getUser(userId: string) {
    return this.users.get(userId);
  }
  async getUsers(ids: string[]) {
    return ids.map((id) => this.users.get(id)).filter((u): u is UserRow => !!u);
  }
  async createDevice(d: { userId: string; deviceId: string; deviceName: string; at: number }) {
    this.devices.set(`${d.userId}/${d.deviceId}`, { ...d, createdAt: d.at, lastSeenAt: d.at, removedAt: undefined });
  }
  async getDevice(userId: string, deviceId: string) {
    const d = this.devices.get(`${userId}/${deviceId}`);
    return d ? { ...d } : undefined;
  }
  async listDevices(userId: string) {
    return [...this.devices.values()].filter((d) => d.userId === userId);
  }
  async removeDevice(userId: string, deviceId: string, _reason: string, at: number) {
    const d = this.devices.get(`${userId}/${deviceId}`);
    if (d) d.removedAt = at;
  }
  async touchDevice(userId: string, deviceId: string, at: number) {
    const d = this.devices.get(`${userId}/${deviceId}`);
    if (d) d.lastSeenAt = at;
  }
  async insertRefresh(r: { tokenHash: string; userId: string; deviceId: string; generation: number; createdAt: number; expiresAt: number }) {
    this.refresh.set(r.tokenHash, { ...r, usedAt: undefined });
  }
  async getRefresh(h: string) {
    const r = this.refresh.get(h);
    return r ? { ...r } : undefined;
  }
  async markRefreshUsed(h: string, at: number) {
    const r = this.refresh.get(h);
    if (!r) return false;
    if (this.loseNextMarkUsed) {
      this.loseNextMarkUsed = false;
      r.usedAt = at;
      return false;
    }
    if (r.usedAt !== undefined) return false;
    r.usedAt = at;
    return true;
  }
}

class FakeRegistry implements RegistryPort {
  conns = new Map<string, LiveConnection>();
  cached = new Map<string, Set<string>>();
  async register(c: LiveConnection) {
    this.conns.set(c.deviceId, { ...c });
  }
  async unregister(c: LiveConnection) {
    if (this.conns.get(c.deviceId)?.connectionId !== c.connectionId) return false;
    this.conns.delete(c.deviceId);
    return true;
  }
  async heartbeat() {}
  async connection(deviceId: string) {
    return this.conns.get(deviceId);
  }
  async deviceAdded(userId: string, deviceId: string) {
    this.cached.get(userId)?.add(deviceId);
  }
  async deviceRemoved(userId: string, deviceId: string) {
    this.cached.get(userId)?.delete(deviceId);
  }
  async routes(userIds: string[], load: (u: string) => Promise<string[]>): Promise<Route[]> {
    const out: Route[] = [];
    for (const u of userIds) {
      if (!this.cached.has(u)) this.cached.set(u, new Set(await load(u)));
      for (const d of this.cached.get(u)!) {
        const c = this.conns.get(d);
        out.push({ userId: u, deviceId: d, online: !!c, gatewayId: c?.gatewayId ?? '', connectionId: c?.connectionId ?? '' });
      }
    }
    return out;
  }
}

class FakeNotifier implements NotifierPort {
  revoked: { conn: LiveConnection; reason: string }[] = [];
  events: { kind: string; userId: string; deviceId: string }[] = [];
  async deviceRevoked(conn: LiveConnection, reason: string) {
    this.revoked.push({ conn, reason });
  }
  sessionEvent(kind: string, c: { userId: string; deviceId: string }) {
    this.events.push({ kind, userId: c.userId, deviceId: c.deviceId });
  }
}

const signer: AccessTokenSigner = {
  async signAccess(userId, deviceId) {
    return { token: `access:${userId}:${deviceId}`, expiresIn: 900 };
  },
};

const DAY = 86_400_000;

function setup() {
  const accounts = new FakeAccounts();
  const registry = new FakeRegistry();
  const notifier = new FakeNotifier();
  const clock = { now: Date.UTC(2026, 0, 1) };
  const outcomes: string[] = [];
  const m = new SessionManager(accounts, registry, signer, notifier, {
    refreshTtlMs: 30 * DAY,
    connectionTtlSeconds: 60,
    hasher: inProcessHasher(1024),
    now: () => clock.now,
    observe: (o) => outcomes.push(o),
  });
  return { m, accounts, registry, notifier, clock, outcomes };
}

async function userWithDevice(m: SessionManager, username = 'alice') {
  await m.createAccount({ username, password: 'password-1' });
  return m.login({ username, password: 'password-1', deviceName: 'phone' });
}

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return err instanceof ParleyError ? err.code : `not a ParleyError: ${String(err)}`;
  }
  return 'resolved';
};

describe('accounts', () => {
  it('creates an account once per username', async () => {
    const { m, accounts } = setup();
    const { userId } = await m.createAccount({ username: 'alice', password: 'password-1', displayName: 'Alice' });
    expect(accounts.users.get(userId)).toMatchObject({ username: 'alice', displayName: 'Alice' });
    expect(accounts.users.get(userId)!.passwordHash).toMatch(/^scrypt\$/);
    expect(await code(m.createAccount({ username: 'alice', password: 'password-2' }))).toBe('username_taken');
  });

  it('loses the LWT gracefully: username_taken and no orphan user row', async () => {
    const { m, accounts } = setup();
    accounts.loseNextClaim = true;
    expect(await code(m.createAccount({ username: 'bob', password: 'password-1' }))).toBe('username_taken');
    expect(accounts.users.size).toBe(0);
  });

  it('validates input before touching storage', async () => {
    const { m, accounts } = setup();
    expect(await code(m.createAccount({ username: 'Bo', password: 'password-1' }))).toBe('bad_request');
    expect(await code(m.createAccount({ username: 'bob', password: 'short' }))).toBe('bad_request');
    expect(accounts.users.size).toBe(0);
  });
});

describe('login', () => {
  it('creates a new device per login and answers wrong password and unknown user alike', async () => {
    const { m, accounts } = setup();
    const a = await userWithDevice(m);
    const b = await m.login({ username: 'alice', password: 'password-1' });
    expect(a.userId).toBe(b.userId);
    expect(a.deviceId).not.toBe(b.deviceId);
    expect(accounts.devices.size).toBe(2);
    const wrong = m.login({ username: 'alice', password: 'password-2' });
    await expect(wrong).rejects.toMatchObject({ code: 'unauthorized', message: 'invalid username or password' });
    await expect(m.login({ username: 'nobody', password: 'password-2' })).rejects.toMatchObject({ code: 'unauthorized', message: 'invalid username or password' });
    expect(await code(m.login({ username: '', password: 'x' }))).toBe('bad_request');
  });

  it('caps active devices per user; removing one makes room again', async () => {
    const { m, outcomes } = setup();
    const first = await userWithDevice(m);
    for (let i = 1; i < 16; i++) await m.login({ username: 'alice', password: 'password-1' });
    const refused = m.login({ username: 'alice', password: 'password-1' });
    await expect(refused).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/device limit reached \(16 devices\)/) });
    expect(outcomes).toContain('device_limit');
    await m.removeDevice(first.userId, first.deviceId);
    await expect(m.login({ username: 'alice', password: 'password-1' })).resolves.toMatchObject({ userId: first.userId });
  });
});

describe('refresh token families', () => {
  it('rotates on use: same device, new token, the old one stops working', async () => {
    const { m } = setup();
    const t0 = await userWithDevice(m);
    const t1 = await m.refresh(t0.refreshToken);
    expect(t1.deviceId).toBe(t0.deviceId);
    expect(t1.userId).toBe(t0.userId);
    expect(t1.refreshToken).not.toBe(t0.refreshToken);
    const t2 = await m.refresh(t1.refreshToken);
    expect(t2.deviceId).toBe(t0.deviceId);
  });

  it('revokes the whole family (the device) when a used token comes back, closing its live connection', async () => {
    const { m, registry, notifier, outcomes } = setup();
    const t0 = await userWithDevice(m);
    const other = await m.login({ username: 'alice', password: 'password-1' });
    const conn = { userId: t0.userId, deviceId: t0.deviceId, gatewayId: 'gw-1', connectionId: 'c-1' };
    await m.registerConnection(conn);
    const t1 = await m.refresh(t0.refreshToken);
    expect(await code(m.refresh(t0.refreshToken))).toBe('unauthorized'); // the thief (or the victim) replays
    expect(await code(m.refresh(t1.refreshToken))).toBe('unauthorized'); // the newest token of the family is dead too
    expect(await m.checkDevice(t0.userId, t0.deviceId)).toBe(false);
    expect(notifier.revoked).toEqual([{ conn, reason: 'refresh_token_reuse' }]);
    expect(notifier.events).toContainEqual({ kind: 'device_removed', userId: t0.userId, deviceId: t0.deviceId });
    expect(outcomes).toContain('refresh_reuse_revoked');
    // Only that device: the user's other device is untouched.
    expect(await m.checkDevice(other.userId, other.deviceId)).toBe(true);
    expect((await m.refresh(other.refreshToken)).deviceId).toBe(other.deviceId);
    expect((await m.routes([t0.userId])).map((r) => r.deviceId)).toEqual([other.deviceId]);
    void registry;
  });

  it('treats two concurrent uses of one token as reuse (the loser of the LWT revokes)', async () => {
    const { m, accounts } = setup();
    const t0 = await userWithDevice(m);
    accounts.loseNextMarkUsed = true;
    expect(await code(m.refresh(t0.refreshToken))).toBe('unauthorized');
    expect(await m.checkDevice(t0.userId, t0.deviceId)).toBe(false);
  });

  it('refuses an expired token without revoking the device', async () => {
    const { m, clock } = setup();
    const t0 = await userWithDevice(m);
    clock.now += 30 * DAY;
    await expect(m.refresh(t0.refreshToken)).rejects.toMatchObject({ code: 'unauthorized', message: 'refresh token expired' });
    expect(await m.checkDevice(t0.userId, t0.deviceId)).toBe(true);
  });

  it('refuses unknown, malformed and removed-device tokens', async () => {
    const { m } = setup();
    const t0 = await userWithDevice(m);
    expect(await code(m.refresh('x'.repeat(43)))).toBe('unauthorized');
    expect(await code(m.refresh('short'))).toBe('unauthorized');
    expect(await code(m.refresh(''))).toBe('bad_request');
    expect(await code(m.refresh(undefined))).toBe('bad_request');
    await m.removeDevice(t0.userId, t0.deviceId);
    expect(await code(m.refresh(t0.refreshToken))).toBe('unauthorized');
  });

  it('updates lastSeenAt on refresh and on connection', async () => {
    const { m, accounts, clock } = setup();
    const t0 = await userWithDevice(m);
    clock.now += 5000;
    await m.refresh(t0.refreshToken);
    expect((await accounts.getDevice(t0.userId, t0.deviceId))!.lastSeenAt).toBe(clock.now);
    clock.now += 5000;
    await m.registerConnection({ userId: t0.userId, deviceId: t0.deviceId, gatewayId: 'g', connectionId: 'c' });
    expect((await accounts.getDevice(t0.userId, t0.deviceId))!.lastSeenAt).toBe(clock.now);
  });
});

describe('devices', () => {
  it('removes only the caller’s own active devices', async () => {
    const { m } = setup();
    const a = await userWithDevice(m, 'alice');
    const b = await userWithDevice(m, 'bob');
    expect(await code(m.removeDevice(b.userId, a.deviceId))).toBe('not_found');
    expect(await m.checkDevice(a.userId, a.deviceId)).toBe(true);
    await m.removeDevice(a.userId, a.deviceId);
    expect(await code(m.removeDevice(a.userId, a.deviceId))).toBe('not_found');
    expect(await m.listDevices(a.userId)).toEqual([]);
  });

  it('removal makes CheckDevice false at once and tells the holding gateway', async () => {
    const { m, notifier } = setup();
    const a = await userWithDevice(m);
    await m.registerConnection({ userId: a.userId, deviceId: a.deviceId, gatewayId: 'gw-7', connectionId: 'c-9' });
    await m.removeDevice(a.userId, a.deviceId);
    expect(await m.checkDevice(a.userId, a.deviceId)).toBe(false);
    expect(notifier.revoked).toEqual([{ conn: { userId: a.userId, deviceId: a.deviceId, gatewayId: 'gw-7', connectionId: 'c-9' }, reason: 'device_removed' }]);
  });

  it('answers CheckDevice false for unknown or empty ids', async () => {
    const { m } = setup();
    expect(await m.checkDevice('', '')).toBe(false);
    expect(await m.checkDevice('u_x', 'd_x')).toBe(false);
  });
});

describe('live connections', () => {
  it('refuses to register a removed device and leaves no registry entry behind', async () => {
    const { m, registry, notifier } = setup();
    const a = await userWithDevice(m);
    await m.removeDevice(a.userId, a.deviceId);
    const conn = { userId: a.userId, deviceId: a.deviceId, gatewayId: 'g', connectionId: 'c' };
    expect(await code(m.registerConnection(conn))).toBe('unauthorized');
    expect(registry.conns.size).toBe(0);
    expect(notifier.events.filter((e) => e.kind === 'connected')).toEqual([]);
  });

  it('publishes connected/disconnected, and ignores an unregister of a replaced connection', async () => {
    const { m, notifier } = setup();
    const a = await userWithDevice(m);
    const base = { userId: a.userId, deviceId: a.deviceId };
    await m.registerConnection({ ...base, gatewayId: 'g1', connectionId: 'old' });
    await m.registerConnection({ ...base, gatewayId: 'g2', connectionId: 'new' });
    await m.unregisterConnection({ ...base, gatewayId: 'g1', connectionId: 'old' });
    expect((await m.routes([a.userId]))[0]).toMatchObject({ online: true, gatewayId: 'g2', connectionId: 'new' });
    await m.unregisterConnection({ ...base, gatewayId: 'g2', connectionId: 'new' });
    expect(notifier.events.map((e) => e.kind)).toEqual(['connected', 'connected', 'disconnected']);
    expect((await m.routes([a.userId]))[0]).toMatchObject({ online: false });
  });

  it('validates connections and bounds route lookups', async () => {
    const { m } = setup();
    expect(await code(m.registerConnection({ userId: 'u', deviceId: 'd', gatewayId: '', connectionId: 'c' }))).toBe('bad_request');
    expect(await code(m.routes(Array.from({ length: 4097 }, (_, i) => `u${i}`)))).toBe('bad_request');
  });
});
