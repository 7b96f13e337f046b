// Accounts, devices and tokens: the decisions of the session service, over injected ports.
import { randomBytes } from 'node:crypto';
import { ParleyError, asParleyError, errors } from '@parley/kit';
import { randomBytes as randomPassword } from 'node:crypto';
import type { PasswordHasher } from './passwords.js';
import type { AccountsPort, DeviceRow, LiveConnection, NotifierPort, RegistryPort, Route, UserRow } from './ports.js';
import { hashToken, newRefreshToken } from './token-issuer.js';
import { validateDeviceName, validateDisplayName, validatePassword, validateUsername } from './validation.js';
import type { sessionV1 } from '@parley/proto';

/** What login, signup and refresh answer: parley.session.v1.TokenPair without the message envelope. */
export type TokenPair = Omit<sessionV1.TokenPair, '$typeName' | '$unknown'>;

/** What signs access tokens (TokenIssuer in production). */
export interface AccessTokenSigner {
  signAccess(userId: string, deviceId: string): Promise<{ token: string; expiresIn: number }>;
}

/** Outcomes worth counting (mapped to Prometheus counters by the service). */
export type SessionOutcome =
  | 'account_created'
  | 'username_taken'
  | 'login'
  | 'login_failed'
  | 'device_limit'
  | 'refresh'
  | 'refresh_rejected'
  | 'refresh_reuse_revoked'
  | 'device_removed'
  | 'connection_refused';

export interface SessionManagerOptions {
  refreshTtlMs: number;
  connectionTtlSeconds: number;
  /** Hashes and checks passwords (the bounded worker pool in the service; it may refuse with `rate_limited`). */
  hasher: PasswordHasher;
  /** Active (not removed) devices a user may have; a login beyond it is refused with `conflict`. */
  maxDevices?: number;
  now?: () => number;
  observe?: (outcome: SessionOutcome) => void;
}

export const MAX_ROUTE_USERS = 4096;
/** Connections per RegisterConnections call (the gateway sends at most 256). */
export const MAX_REGISTER_CONNECTIONS = 1000;
export const DEFAULT_MAX_DEVICES = 16;
export const MAX_GET_USERS = 2048;

const newId = (prefix: string) => `${prefix}${randomBytes(12).toString('base64url')}`;

function requireId(v: string, field: string): string {
  if (!v || v.length > 128) throw errors.badRequest(`${field} is required`, { field });
  return v;
}

export class SessionManager {
  /** A hash of a random password, to spend the same time when the username does not exist. */
  private dummy: Promise<string> | undefined;

  constructor(
    private readonly accounts: AccountsPort,
    private readonly registry: RegistryPort,
    private readonly tokens: AccessTokenSigner,
    private readonly notifier: NotifierPort,
    private readonly opts: SessionManagerOptions,
  ) {}

  private dummyHash(): Promise<string> {
    // A refused or failed attempt is not cached: the next login computes it again.
    this.dummy ??= this.opts.hasher.hash(randomPassword(12).toString('hex')).catch((err: unknown) => {
      this.dummy = undefined;
      throw err;
    });
    return this.dummy;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private observe(o: SessionOutcome): void {
    this.opts.observe?.(o);
  }

  async createAccount(input: { username: unknown; password: unknown; displayName?: unknown }): Promise<{ userId: string }> {
    const username = validateUsername(input.username);
    const password = validatePassword(input.password);
    const displayName = validateDisplayName(input.displayName, username);
    // Cheap early answer for the common case; the LWT below is what actually decides.
    if (await this.accounts.userIdByUsername(username)) {
      this.observe('username_taken');
      throw errors.usernameTaken();
    }
    const userId = newId('u_');
    // The users row first, then the username claim (LWT): a crash in between leaves only an orphan row
    // nobody can log into, never a claimed name without an account.
    await this.accounts.createUser({ userId, username, displayName, passwordHash: await this.opts.hasher.hash(password), createdAt: this.now() });
    if (!(await this.accounts.claimUsername(username, userId))) {
      await this.accounts.deleteUser(userId);
      this.observe('username_taken');
      throw errors.usernameTaken();
    }
    this.observe('account_created');
    return { userId };
  }

  async login(input: { username: unknown; password: unknown; deviceName?: unknown }): Promise<TokenPair> {
    if (typeof input.username !== 'string' || !input.username) throw errors.badRequest('username is required', { field: 'username' });
    if (typeof input.password !== 'string' || !input.password) throw errors.badRequest('password is required', { field: 'password' });
    const deviceName = validateDeviceName(input.deviceName);
    // A name that cannot exist is not looked up, but costs the same hash work.
    const userId = input.username.length <= 32 ? await this.accounts.userIdByUsername(input.username) : undefined;
    const user = userId ? await this.accounts.getUser(userId) : undefined;
    // Same work whether or not the user exists: no username oracle through timing.
    const ok = await this.opts.hasher.verify(input.password, user?.passwordHash ?? (await this.dummyHash()));
    if (!user || !ok) {
      this.observe('login_failed');
      throw errors.unauthorized('invalid username or password');
    }
    const max = this.opts.maxDevices ?? DEFAULT_MAX_DEVICES;
    const active = (await this.accounts.listDevices(user.userId)).filter((d) => d.removedAt === undefined).length;
    if (active >= max) {
      this.observe('device_limit');
      throw errors.conflict(`device limit reached (${max} devices); sign out or remove a device (DELETE /v1/devices/{deviceId}) first`);
    }
    const deviceId = newId('d_');
    await this.accounts.createDevice({ userId: user.userId, deviceId, deviceName, at: this.now() });
    await this.registry.deviceAdded(user.userId, deviceId);
    this.observe('login');
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
   * Rotates a refresh token: the presented token is marked used (LWT) and a new one of the same device's
   * family is issued. A token presented after it was used means it leaked (or two parties hold it): the
   * whole family is revoked by revoking the device, which also closes its live connections with 4001.
   */
  async refresh(refreshToken: unknown): Promise<TokenPair> {
    if (typeof refreshToken !== 'string' || !refreshToken) throw errors.badRequest('refreshToken is required', { field: 'refreshToken' });
    if (refreshToken.length < 20 || refreshToken.length > 200) {
      this.observe('refresh_rejected');
      throw errors.unauthorized('invalid refresh token');
    }
    const hash = hashToken(refreshToken);
    const row = await this.accounts.getRefresh(hash);
    if (!row) {
      this.observe('refresh_rejected');
      throw errors.unauthorized('invalid refresh token');
    }
    const device = await this.accounts.getDevice(row.userId, row.deviceId);
    if (!device || device.removedAt !== undefined) {
      this.observe('refresh_rejected');
      throw errors.unauthorized('device was removed');
    }
    if (row.usedAt !== undefined || !(await this.accounts.markRefreshUsed(hash, this.now()))) {
      this.observe('refresh_reuse_revoked');
      await this.revokeDevice(row.userId, row.deviceId, 'refresh_token_reuse');
      throw errors.unauthorized('refresh token reuse detected; the device was signed out');
    }
    // Expiry is checked after the token was consumed: an expired token cannot be used, and presenting it
    // again counts as reuse like any other used token.
    if (row.expiresAt <= this.now()) {
      this.observe('refresh_rejected');
      throw errors.unauthorized('refresh token expired');
    }
    await this.accounts.touchDevice(row.userId, row.deviceId, this.now());
    this.observe('refresh');
    return this.issue(row.userId, row.deviceId, row.generation + 1);
  }

  async listDevices(userId: string): Promise<DeviceRow[]> {
    requireId(userId, 'userId');
    return (await this.accounts.listDevices(userId)).filter((d) => d.removedAt === undefined);
  }

  /** Only the caller's own devices: anything else is `not_found`, never `forbidden` (no existence oracle). */
  async removeDevice(userId: string, deviceId: string): Promise<void> {
    requireId(userId, 'userId');
    requireId(deviceId, 'deviceId');
    const d = await this.accounts.getDevice(userId, deviceId);
    if (!d || d.removedAt !== undefined) throw errors.notFound('no such device');
    await this.revokeDevice(userId, deviceId, 'device_removed');
    this.observe('device_removed');
  }

  /**
   * The device row is marked removed first (CheckDevice answers false from then on, on every replica),
   * then the cached device set is updated, then every gateway is told to close the device's connections.
   */
  private async revokeDevice(userId: string, deviceId: string, reason: string): Promise<void> {
    await this.accounts.removeDevice(userId, deviceId, reason, this.now());
    await this.registry.deviceRemoved(userId, deviceId);
    const conn = await this.registry.connection(deviceId);
    const known = conn && conn.userId === userId ? conn : { userId, deviceId, gatewayId: '', connectionId: '' };
    await this.notifier.deviceRevoked(known, reason);
    this.notifier.sessionEvent('device_removed', { userId, deviceId });
  }

  async checkDevice(userId: string, deviceId: string): Promise<boolean> {
    if (!userId || !deviceId || userId.length > 128 || deviceId.length > 128) return false;
    const d = await this.accounts.getDevice(userId, deviceId);
    return d !== undefined && d.removedAt === undefined;
  }

  async getUser(userId: string): Promise<UserRow> {
    const u = userId && userId.length <= 128 ? await this.accounts.getUser(userId) : undefined;
    if (!u) throw errors.notFound('no such user');
    return u;
  }

  async findUser(username: string): Promise<UserRow> {
    const id = username && username.length <= 32 ? await this.accounts.userIdByUsername(username) : undefined;
    const u = id ? await this.accounts.getUser(id) : undefined;
    if (!u) throw errors.notFound('no such user');
    return u;
  }

  /** The users that exist among the ids (unknown ids are left out), each once. */
  async getUsers(userIds: string[]): Promise<UserRow[]> {
    if (userIds.length > MAX_GET_USERS) throw errors.badRequest(`at most ${MAX_GET_USERS} users per call`, { field: 'userIds' });
    return this.accounts.getUsers([...new Set(userIds.filter((id) => id && id.length <= 128))]);
  }

  /**
   * Registers first, then checks the device: a concurrent RemoveDevice either sees this registration (and
   * tells the gateway to close it) or has already marked the row, which this check then sees.
   */
  async registerConnection(c: LiveConnection): Promise<void> {
    requireId(c.userId, 'userId');
    requireId(c.deviceId, 'deviceId');
    requireId(c.gatewayId, 'gatewayId');
    requireId(c.connectionId, 'connectionId');
    await this.registry.register(c, this.opts.connectionTtlSeconds);
    let active: boolean;
    try {
      active = await this.checkDevice(c.userId, c.deviceId);
    } catch (err) {
      // The device could not be checked (a store down): the registration must not stay behind.
      await this.registry.unregister(c).catch(() => undefined);
      throw err;
    }
    if (!active) {
      await this.registry.unregister(c);
      this.observe('connection_refused');
      throw errors.unauthorized('device was removed');
    }
    await this.accounts.touchDevice(c.userId, c.deviceId, this.now());
    this.notifier.sessionEvent('connected', c);
  }

  /**
   * One gateway's burst of upgrades: each as registerConnection (the stores group-commit their device reads
   * and last-seen writes across them). Every connection gets its own answer: a ParleyError (a removed device, a
   * malformed id) as it is, any other failure (a store down) as the kit maps it (`unavailable` for a transient
   * store error), so the connections that did register are not failed with the others.
   */
  async registerConnections(cs: LiveConnection[]): Promise<Array<ParleyError | undefined>> {
    if (cs.length > MAX_REGISTER_CONNECTIONS) throw errors.badRequest(`at most ${MAX_REGISTER_CONNECTIONS} connections per call`, { field: 'connections' });
    return Promise.all(
      cs.map((c) =>
        this.registerConnection(c).then(
          () => undefined,
          (err: unknown) => asParleyError(err),
        ),
      ),
    );
  }

  async unregisterConnection(c: LiveConnection): Promise<void> {
    if (!c.deviceId || !c.connectionId) throw errors.badRequest('connection is required', { field: 'connection' });
    if (await this.registry.unregister(c)) this.notifier.sessionEvent('disconnected', c);
  }

  /** One gateway's burst of closes: each as unregisterConnection; a malformed entry is skipped, a store failure fails the call. */
  async unregisterConnections(cs: LiveConnection[]): Promise<void> {
    if (cs.length > MAX_REGISTER_CONNECTIONS) throw errors.badRequest(`at most ${MAX_REGISTER_CONNECTIONS} connections per call`, { field: 'connections' });
    await Promise.all(
      cs.map((c) =>
        this.unregisterConnection(c).catch((err: unknown) => {
          if (!(err instanceof ParleyError)) throw err;
        }),
      ),
    );
  }

  async heartbeat(conns: LiveConnection[]): Promise<void> {
    return this.registry.heartbeat(
      conns.filter((c) => c.userId && c.deviceId && c.gatewayId && c.connectionId),
      this.opts.connectionTtlSeconds,
    );
  }

  async routes(userIds: string[]): Promise<Route[]> {
    if (userIds.length > MAX_ROUTE_USERS) throw errors.badRequest(`at most ${MAX_ROUTE_USERS} users per call`, { field: 'userIds' });
    const ids = userIds.filter((id) => id && id.length <= 128);
    return this.registry.routes(ids, async (u) => (await this.accounts.listDevices(u)).filter((d) => d.removedAt === undefined).map((d) => d.deviceId));
  }
}
