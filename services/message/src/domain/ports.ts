// The ports the domain talks through. The adapters (src/adapters: stores, Kafka, Redis, gRPC clients) implement them.
import { commonV1 } from '@parley/proto';
import type { MemberRow } from './membership.js';
import type { DeviceRoute } from './fanout.js';

/** Key of the permanent dedupe row: (sender, chat, clientMsgId); system messages use sender `#system`. */
export interface DedupeKey {
  sender: string;
  chatId: string;
  clientKey: string;
}

export const SYSTEM_SENDER = '#system';

/** The dedupe key as one string (the sequencer's memory and the sender's in-flight map). */
export function dedupeKeyString(k: DedupeKey): string {
  return `${k.sender}\u0000${k.chatId}\u0000${k.clientKey}`;
}

export function dedupeKeyOf(msg: commonV1.Message): DedupeKey {
  const system = msg.kind === commonV1.MessageKind.SYSTEM;
  return { sender: system ? SYSTEM_SENDER : (msg.sender?.userId ?? ''), chatId: msg.chatId, clientKey: msg.clientMsgId };
}

export interface Claim {
  messageId: string;
  createdAt: number;
  /** A seq below the one the message will get (the scan start when healing an abandoned claim). */
  baseSeq: bigint;
  owner: string;
  claimedAt: number;
}

export interface ClaimRow extends Claim {
  /** Set once the message is committed. */
  seq: bigint | undefined;
}

/** What the send path needs of the dedupe table (the adapter also keeps the previous design's claim API). */
export interface DedupeStore {
  get(key: DedupeKey): Promise<ClaimRow | undefined>;
  /** Fenced mode: the permanent row of a committed send, written with its seq (a plain write). */
  record(key: DedupeKey, row: { messageId: string; createdAt: number; seq: bigint }): Promise<void>;
}

export interface LogReader {
  getMessage(chatId: string, seq: bigint): Promise<commonV1.Message | undefined>;
  /** Messages with the given seqs (missing seqs are absent). */
  getMessages(chatId: string, seqs: readonly bigint[]): Promise<commonV1.Message[]>;
  /** Ascending messages in (after, upTo] (upTo undefined = to the end), at most `limit`. */
  readAfter(chatId: string, after: bigint, upTo: bigint | undefined, limit: number): Promise<commonV1.Message[]>;
  /** Descending messages in [from, …) down to > after, at most `limit`. */
  readBefore(chatId: string, from: bigint, after: bigint, limit: number): Promise<commonV1.Message[]>;
  headHint(chatId: string): Promise<bigint>;
  findHead(chatId: string, from: bigint): Promise<bigint>;
}

export interface HeadsStore {
  record(chatId: string, seq: bigint, at: number): Promise<void>;
  get(chatIds: readonly string[]): Promise<Array<{ chatId: string; lastSeq: bigint; lastActivityAt: number }>>;
}

export interface MessagePublisher {
  /** Publishes committed messages to chat.messages.v1 (in order). */
  publishMessages(msgs: readonly commonV1.Message[]): Promise<void>;
}

export interface ReceiptPublisher {
  /** `receipts`: the newly delivered seqs, each with its sender's userId (so the consumer need not read the log). */
  publishDelivered(chatId: string, userId: string, receipts: Array<{ seq: bigint; sender: string }>, at: number): Promise<void>;
  publishRead(chatId: string, userId: string, upToSeq: bigint, at: number): Promise<void>;
}

export interface GroupPort {
  getMembers(chatId: string, includeLeft: boolean): Promise<MemberRow[]>;
  listMemberships(userId: string): Promise<Array<MemberRow & { chatId: string }>>;
}

export interface MediaPort {
  resolveAttachments(userId: string, mediaIds: string[]): Promise<commonV1.Attachment[]>;
}

export interface RoutesPort {
  getDeviceRoutes(userIds: string[]): Promise<DeviceRoute[]>;
}

export interface StoredCursor {
  chatId: string;
  acked: bigint;
  pending: bigint[];
}

export interface CursorStore {
  read(userId: string, deviceId: string): Promise<StoredCursor[]>;
  readOne(userId: string, deviceId: string, chatId: string): Promise<StoredCursor | undefined>;
  /** Monotonic write: the cursor never moves back; pending adds/removals merge. */
  write(userId: string, deviceId: string, chatId: string, acked: bigint, addPending: bigint[], removePending: bigint[]): Promise<void>;
}

export interface ReadMarksStore {
  writeReadMark(chatId: string, userId: string, seq: bigint, at: number): Promise<void>;
}
