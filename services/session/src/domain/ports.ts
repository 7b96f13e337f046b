// What the session domain needs from storage (implemented in src/storage, faked in unit tests).
import type { KeyPointer, KeyRecord } from './keyring.js';

export interface UserRow {
  userId: string;
  username: string;
  displayName: string;
  passwordHash: string;
  createdAt: number;
}

export interface DeviceRow {
  userId: string;
  deviceId: string;
  deviceName: string;
  createdAt: number;
  lastSeenAt: number;
  removedAt: number | undefined;
}

export interface RefreshRow {
  tokenHash: string;
  userId: string;
  deviceId: string;
  generation: number;
  expiresAt: number;
  usedAt: number | undefined;
}

/** A live WebSocket connection of a device, held by one gateway instance. */
export interface LiveConnection {
  userId: string;
  deviceId: string;
  gatewayId: string;
  connectionId: string;
}

/** A registered device and where it is connected, if anywhere. */
export interface Route {
  userId: string;
  deviceId: string;
  online: boolean;
  gatewayId: string;
  connectionId: string;
}

export interface AccountsPort {
  createUser(u: UserRow): Promise<void>;
  /** Lightweight transaction: true when this user got the name. */
  claimUsername(username: string, userId: string): Promise<boolean>;
  deleteUser(userId: string): Promise<void>;
  userIdByUsername(username: string): Promise<string | undefined>;
  getUser(userId: string): Promise<UserRow | undefined>;
  getUsers(userIds: string[]): Promise<UserRow[]>;
  createDevice(d: { userId: string; deviceId: string; deviceName: string; at: number }): Promise<void>;
  getDevice(userId: string, deviceId: string): Promise<DeviceRow | undefined>;
  listDevices(userId: string): Promise<DeviceRow[]>;
  removeDevice(userId: string, deviceId: string, reason: string, at: number): Promise<void>;
  /** Updates last_seen_at of an existing device (a plain write: callers have just read the row). */
  touchDevice(userId: string, deviceId: string, at: number): Promise<void>;
  insertRefresh(r: { tokenHash: string; userId: string; deviceId: string; generation: number; createdAt: number; expiresAt: number }): Promise<void>;
  getRefresh(tokenHash: string): Promise<RefreshRow | undefined>;
  /** Lightweight transaction: true when this call is the one that used the token. */
  markRefreshUsed(tokenHash: string, at: number): Promise<boolean>;
}

export interface KeysPort {
  list(): Promise<Map<string, KeyRecord>>;
  insert(k: KeyRecord): Promise<void>;
  delete(kid: string): Promise<void>;
  pointer(): Promise<KeyPointer | undefined>;
  /** Compare-and-set of the current key: true when this call moved the pointer. */
  swapPointer(expected: KeyPointer | undefined, next: KeyPointer): Promise<boolean>;
}

export interface RegistryPort {
  /** Records the connection as the device's current one (a newer registration always wins). */
  register(c: LiveConnection, ttlSeconds: number): Promise<void>;
  /** Deletes the device's entry only if it still names this connection; true when it did. */
  unregister(c: LiveConnection): Promise<boolean>;
  /** Extends (or re-creates after a Redis loss) each entry, never overwriting a newer connection of the device. */
  heartbeat(conns: LiveConnection[], ttlSeconds: number): Promise<void>;
  connection(deviceId: string): Promise<LiveConnection | undefined>;
  /** Keep the cached device set of a user coherent after the device was written to Cassandra. */
  deviceAdded(userId: string, deviceId: string): Promise<void>;
  deviceRemoved(userId: string, deviceId: string): Promise<void>;
  routes(userIds: string[], loadDevices: (userId: string) => Promise<string[]>): Promise<Route[]>;
}

/** Side effects of session changes: gateway deliveries and session events. */
export interface NotifierPort {
  /**
   * Tells every gateway to close every connection of the device (4001). `conn` is the registered connection
   * when there is one; otherwise gatewayId and connectionId are empty (a second socket of the device may
   * still be open somewhere, so revocation is broadcast either way).
   */
  deviceRevoked(conn: LiveConnection, reason: string): Promise<void>;
  /** Best effort, never delays the caller: `session.events.v1`. */
  sessionEvent(kind: 'connected' | 'disconnected' | 'device_removed', c: { userId: string; deviceId: string; gatewayId?: string; connectionId?: string }): void;
}
