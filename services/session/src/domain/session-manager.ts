// Accounts, devices and tokens: the decisions of the session service, over injected ports.
import { randomBytes } from 'node:crypto';
import { errors } from '@parley/kit';
import { dummyHash, hashPassword, verifyPassword } from './passwords.js';
import type { AccountsPort, LiveConnection, NotifierPort, RegistryPort, Route, UserRow, DeviceRow } from './ports.js';
import { hashToken, newRefreshToken, type TokenIssuer } from './token-issuer.js';
import { validateDeviceName, validateDisplayName, validatePassword, validateUsername } from './validation.js';

export interface TokenPair {
  userId: string;
  deviceId: string;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export interface SessionManagerOptions {
  refreshTtlMs: number;
  connectionTtlSeconds: number;
  scryptCost: number;
  now?: () => number;
}

const newId = (prefix: string) => `${prefix}${randomBytes(12).toString('base64url')}`;

export class SessionManager {
  constructor(
    private readonly accounts: AccountsPort,
    private readonly registry: RegistryPort,
    private readonly tokens: TokenIssuer,
    private readonly notifier: NotifierPort,
    private readonly opts: SessionManagerOptions,
  ) {}

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  async createAccount(input: { username: unknown; password: unknown; displayName?: unknown }): Promise<{ userId: string }> {
    const username = validateUsername(input.username);
    const password = validatePassword(input.password);
    const displayName = validateDisplayName(input.displayName, username);
    const userId = newId('u_');
    // The users row first, then the username claim (LWT): a crash in between leaves only an orphan row
    // nobody can log into, never a claimed name without an account.
    await this.accounts.createUser({ userId, username, displayName, passwordHash: await hashPassword(password, this.opts.scryptCost), createdAt: this.now() });
    if (!(await this.accounts.claimUsername(username, userId))) {
      await this.accounts.deleteUser(userId);
      throw errors.usernameTaken();
    }
    return { userId };
  }

  async login(input: { username: unknown; password: unknown; deviceName?: unknown }): Promise<TokenPair> {
    if (typeof input.username !== 'string' || !input.username) throw errors.badRequest('username is required', { field: 'username' });
    if (typeof input.password !== 'string' || !input.password) throw errors.badRequest('password is required', { field: 'password' });
    const deviceName = validateDeviceName(input.deviceName);
    const userId = await this.accounts.userIdByUsername(input.username);
    const user = userId ? await this.accounts.getUser(userId) : undefined;
    // Same work whether or not the user exists: no username oracle through timing.
    const ok = await verifyPassword(input.password, user?.passwordHash ?? (await dummyHash(this.opts.scryptCost)));
    if (!user || !ok) throw errors.unauthorized('invalid username or password');
    const deviceId = newId('d_');
    await this.accounts.createDevice({ userId: user.userId, deviceId, deviceName, at: this.now() });
    await this.registry.addDevice(user.userId, deviceId);
    return this.issue(user.userId, deviceId, 0);
  }

  private async issue(userId: string, deviceId: string, generation: number): Promise<TokenPair> {
    const refreshToken = newRefreshToken();
    const at = this.now();
    await this.accounts.insertRefresh({ tokenHash: hashToken(refreshToken), userId, deviceId, generation, createdAt: at, expiresAt: at + this.opts.refreshTtlMs });
    const access = await this.tokens.signAccess(userId, deviceId);
    return { userId, deviceId, accessToken: access.token, refreshToken, expiresIn: access.expiresIn };
  }

  /**
   * Rotates a refresh token. A token presented after it was already used means it leaked: the device's
   * whole family is revoked (the device is logged out everywhere, its live connections closed with 4001).
   */
  async refresh(refreshToken: unknown): Promise<TokenPair> {
    if (typeof refreshToken !== 'string' || refreshToken.length < 20 || refreshToken.length > 200) {
      throw errors.badRequest('refreshToken is required', { field: 'refreshToken' });
    }
    const hash = hashToken(refreshToken);
    const row = await this.accounts.getRefresh(hash);
    if (!row) throw errors.unauthorized('invalid refresh token');
    const device = await this.accounts.getDevice(row.userId, row.deviceId);
    if (!device || device.removedAt !== undefined) throw errors.unauthorized('device was removed');
    if (row.usedAt !== undefined || !(await this.accounts.markRefreshUsed(hash, this.now()))) {
      await this.revokeDevice(row.userId, row.deviceId, 'refresh_token_reuse');
      throw errors.unauthorized('refresh token reuse detected; the device was signed out');
    }
    if (row.expiresAt <= this.now()) throw errors.unauthorized('refresh token expired');
    await this.accounts.touchDevice(row.userId, row.deviceId, this.now());
    return this.issue(row.userId, row.deviceId, row.generation + 1);
  }

  async listDevices(userId: string): Promise<DeviceRow[]> {
    return (await this.accounts.listDevices(userId)).filter((d) => d.removedAt === undefined);
  }

  async removeDevice(userId: string, deviceId: string): Promise<void> {
    const d = await this.accounts.getDevice(userId, deviceId);
    if (!d || d.removedAt !== undefined) throw errors.notFound('no such device');
    await this.revokeDevice(userId, deviceId, 'device_removed');
  }

  private async revokeDevice(userId: string, deviceId: string, reason: string): Promise<void> {
    await this.accounts.removeDevice(userId, deviceId, reason, this.now());
    await this.registry.removeDevice(userId, deviceId);
    const conn = await this.registry.connection(deviceId);
    if (conn) await this.notifier.deviceRevoked(conn, reason);
    await this.notifier.sessionEvent('device_removed', { userId, deviceId });
  }

  async checkDevice(userId: string, deviceId: string): Promise<boolean> {
    const d = await this.accounts.getDevice(userId, deviceId);
    return d !== undefined && d.removedAt === undefined;
  }

  async getUser(userId: string): Promise<UserRow> {
    const u = await this.accounts.getUser(userId);
    if (!u) throw errors.notFound('no such user');
    return u;
  }

  async findUser(username: string): Promise<UserRow> {
    const id = await this.accounts.userIdByUsername(username);
    const u = id ? await this.accounts.getUser(id) : undefined;
    if (!u) throw errors.notFound('no such user');
    return u;
  }

  getUsers(userIds: string[]): Promise<UserRow[]> {
    if (userIds.length > 2048) throw errors.badRequest('at most 2048 users per call');
    return this.accounts.getUsers(userIds);
  }

  async registerConnection(c: LiveConnection): Promise<void> {
    if (!(await this.checkDevice(c.userId, c.deviceId))) throw errors.unauthorized('device was removed');
    await this.registry.register(c, this.opts.connectionTtlSeconds);
    await this.accounts.touchDevice(c.userId, c.deviceId, this.now());
    await this.notifier.sessionEvent('connected', c);
  }

  async unregisterConnection(c: LiveConnection): Promise<void> {
    if (await this.registry.unregister(c)) await this.notifier.sessionEvent('disconnected', c);
  }

  heartbeat(conns: LiveConnection[]): Promise<void> {
    return this.registry.heartbeat(conns, this.opts.connectionTtlSeconds);
  }

  routes(userIds: string[]): Promise<Route[]> {
    if (userIds.length > 4096) throw errors.badRequest('at most 4096 users per call');
    return this.registry.routes(userIds, async (u) => (await this.listDevices(u)).map((d) => d.deviceId));
  }
}
