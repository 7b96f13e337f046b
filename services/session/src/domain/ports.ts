// What the session domain needs from storage (implemented in src/storage, faked in unit tests).
import type { DeviceRow, RefreshRow, UserRow } from '../storage/accounts-store.js';
import type { KeyPointer, KeyRecord } from './keyring.js';
import type { LiveConnection, Route } from '../storage/registry.js';

export type { DeviceRow, RefreshRow, UserRow, LiveConnection, Route };

export interface AccountsPort {
  createUser(u: UserRow): Promise<void>;
  claimUsername(username: string, userId: string): Promise<boolean>;
  deleteUser(userId: string): Promise<void>;
  userIdByUsername(username: string): Promise<string | undefined>;
  getUser(userId: string): Promise<UserRow | undefined>;
  getUsers(userIds: string[]): Promise<UserRow[]>;
  createDevice(d: { userId: string; deviceId: string; deviceName: string; at: number }): Promise<void>;
  getDevice(userId: string, deviceId: string): Promise<DeviceRow | undefined>;
  listDevices(userId: string): Promise<DeviceRow[]>;
  removeDevice(userId: string, deviceId: string, reason: string, at: number): Promise<void>;
  touchDevice(userId: string, deviceId: string, at: number): Promise<void>;
  insertRefresh(r: { tokenHash: string; userId: string; deviceId: string; generation: number; createdAt: number; expiresAt: number }): Promise<void>;
  getRefresh(tokenHash: string): Promise<RefreshRow | undefined>;
  markRefreshUsed(tokenHash: string, at: number): Promise<boolean>;
}

export interface KeysPort {
  list(): Promise<Map<string, KeyRecord>>;
  insert(k: KeyRecord): Promise<void>;
  pointer(): Promise<KeyPointer | undefined>;
  swapPointer(expected: KeyPointer | undefined, next: KeyPointer): Promise<boolean>;
}

export interface RegistryPort {
  register(c: LiveConnection, ttlSeconds: number): Promise<void>;
  unregister(c: LiveConnection): Promise<boolean>;
  heartbeat(conns: LiveConnection[], ttlSeconds: number): Promise<void>;
  connection(deviceId: string): Promise<LiveConnection | undefined>;
  addDevice(userId: string, deviceId: string): Promise<void>;
  removeDevice(userId: string, deviceId: string): Promise<void>;
  routes(userIds: string[], loadDevices: (userId: string) => Promise<string[]>): Promise<Route[]>;
}

/** Side effects of session changes: gateway deliveries and session events. */
export interface NotifierPort {
  deviceRevoked(conn: LiveConnection, reason: string): Promise<void>;
  sessionEvent(kind: 'connected' | 'disconnected' | 'device_removed', c: { userId: string; deviceId: string; gatewayId?: string; connectionId?: string }): Promise<void>;
}
