// The ports presence's domain talks through; the adapters implement them (adapters/live-store.ts Redis,
// adapters/receipt-ledger.ts Redis, adapters/settings-store.ts Cassandra, adapters/delivery-bus.ts the gateways).
import type { GatewayDeliveryPayload } from '@parley/kit';
import type { Conn, ReceiptMark } from './model.js';

export type Transition = 'none' | 'online' | 'offline' | 'grace';

/** A connection watching a user's presence. */
export interface Watcher {
  connectionId: string;
  userId: string;
  deviceId: string;
  gatewayId: string;
}

/** Live presence, subscriptions and typing (Redis). */
export interface LivePort {
  open(c: Conn, expiresAt: number): Promise<Transition>;
  heartbeat(conns: Conn[], expiresAt: number): Promise<{ came: string[]; revived: Conn[] }>;
  close(c: Pick<Conn, 'userId' | 'connectionId'>, now: number, graceUntil: number): Promise<Transition>;
  expiredConnections(now: number, limit: number): Promise<[string, string][]>;
  expire(connectionId: string, userId: string, now: number): Promise<{ result: 'none' | 'removed' | 'offline'; deviceId: string }>;
  graceDue(now: number, limit: number): Promise<string[]>;
  endGrace(userId: string, now: number): Promise<number | undefined>;
  states(userIds: string[]): Promise<Map<string, { online: boolean; lastSeen: number; known: boolean }>>;
  connections(userIds: string[]): Promise<Conn[]>;
  subscriptionCount(connectionId: string): Promise<number>;
  subscribe(w: Watcher, targets: string[]): Promise<void>;
  unsubscribe(connectionId: string, targets: string[]): Promise<void>;
  dropSubscriptions(connectionId: string): Promise<void>;
  scheduleSubscriptionGc(connectionId: string, userId: string, at: number): Promise<void>;
  collectSubscriptions(now: number, limit: number): Promise<number>;
  watchers(userId: string): Promise<Watcher[]>;
  typingOn(chatId: string, userId: string, lapseAt: number): Promise<number | undefined>;
  typingOff(chatId: string, userId: string): Promise<boolean>;
  claimLapsedTyping(now: number, limit: number): Promise<[string, string][]>;
}

/** One entry to check: `d` delivered seqs (each sent at most once), `r` a read upToSeq, `w` a replay watermark (raise only). */
export interface LedgerItem {
  kind: 'd' | 'r' | 'w';
  reader: string;
  seqs: bigint[];
}

export interface LedgerRequest {
  deviceId: string;
  chatId: string;
  items: LedgerItem[];
}

/** What each device was already sent (Redis): receipts go out at most once per device. */
export interface LedgerPort {
  take(reqs: LedgerRequest[]): Promise<bigint[][][]>;
  watermarks(deviceId: string, chatId: string, readers: string[]): Promise<Map<string, bigint>>;
}

/** Receipt watermarks per (chat, user) (Cassandra). */
export interface MarksPort {
  writeDelivered(chatId: string, userId: string, seq: bigint, at: number): Promise<void>;
  writeRead(chatId: string, userId: string, seq: bigint, at: number): Promise<void>;
  readSeq(chatId: string, userId: string): Promise<bigint>;
  marks(chatId: string): Promise<ReceiptMark[]>;
}

export type DeliveryPayload = GatewayDeliveryPayload;

/** Frames to devices through their gateways. */
export interface DeliveryPort {
  send(targets: Conn[], payload: DeliveryPayload): Promise<void>;
}
