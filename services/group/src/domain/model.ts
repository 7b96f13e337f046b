// The group service's own records and ports. Pure types: no client library is imported here.

export type ChatKind = 'direct' | 'group';
export type Role = 'admin' | 'member';

/** A chat as stored (table `chats`). */
export interface ChatRecord {
  chatId: string;
  type: ChatKind;
  name?: string;
  createdAt: number;
  createdBy: string;
  /** Id of the last completed operation: the optimistic-concurrency version of the chat. */
  version?: string;
  /** The membership operation being committed to the sequence, if any. */
  pendingOp?: PendingOp;
}

/** One membership row (tables `chat_members` and `user_chats`). */
export interface MemberRecord {
  chatId: string;
  userId: string;
  role: Role;
  /** Seq of the system message that added the member; 0 while a join is pending. */
  joinedSeq: number;
  /** Seq of the system message that removed the member; 0 = still a member. */
  leftSeq: number;
  /** True while a membership change of this row is being committed to the sequence. */
  pending: boolean;
  opId?: string;
}

export type OpKind = 'created' | 'members.added' | 'members.removed' | 'renamed' | 'role';

/**
 * A membership operation, persisted on the chat row before anything else happens so that
 * any process can finish it after a crash with the same idempotency key (= opId).
 */
export interface PendingOp {
  opId: string;
  kind: OpKind;
  chatType: ChatKind;
  actor: string;
  /** created/members.added: joiners; members.removed: leavers; role: the target. */
  userIds: string[];
  /** created: the role of each joiner. */
  roles?: Record<string, Role>;
  /** created (group) / renamed: the name. */
  name?: string;
  /** role: the new role. */
  role?: Role;
  /** members.removed: a member promoted to admin because no admin would remain. */
  promote?: string;
  /** ms since epoch when the operation started. */
  startedAt: number;
}

/** The system message content appended to a chat's sequence. */
export interface SystemEvent {
  action: OpKind;
  actor: string;
  userIds: string[];
  name?: string;
  role?: Role;
}

/** What the client sees (protocol.md §5 `chat`). */
export interface ChatView {
  chatId: string;
  type: ChatKind;
  name?: string;
  members: { userId: string; role: Role }[];
  createdAt: number;
  lastSeq: number;
  lastActivityAt: number;
}

export interface ChatHead {
  chatId: string;
  lastSeq: number;
  lastActivityAt: number;
}

// ---- ports ---------------------------------------------------------------------------------

export interface ChatStore {
  getChat(chatId: string): Promise<ChatRecord | undefined>;
  /** One partition read of `chat_members`; the chat type comes from its static column. */
  getMembers(chatId: string): Promise<{ type?: ChatKind; members: MemberRecord[] }>;
  /** One partition read of `user_chats`. */
  listUserChats(userId: string): Promise<MemberRecord[]>;
  /** INSERT … IF NOT EXISTS with the creation op pending; returns the existing row if not applied. */
  insertChat(chat: ChatRecord, op: PendingOp): Promise<{ applied: boolean; existing?: ChatRecord }>;
  /** LWT: set the pending op if none is pending and the version is still `expectedVersion`. */
  acquireOp(chatId: string, expectedVersion: string | undefined, op: PendingOp): Promise<boolean>;
  /** Write full member rows to both `chat_members` and `user_chats` (idempotent; rebuilt on retry). */
  writeMembers(chatId: string, chatType: ChatKind, rows: MemberRecord[]): Promise<void>;
  /** LWT: clear the pending op if it is still `op` and make it the chat's version (and apply a rename). */
  clearOp(chatId: string, op: PendingOp): Promise<void>;
}

export interface MessageLog {
  /** Idempotent on (chatId, key): the same key always yields the same seq. */
  appendSystemMessage(chatId: string, key: string, event: SystemEvent): Promise<number>;
  getChatHeads(chatIds: string[]): Promise<Map<string, ChatHead>>;
}

export interface UserDirectory {
  /** The subset of `userIds` that are existing accounts. */
  existingUsers(userIds: string[]): Promise<Set<string>>;
}

export interface ChatEvents {
  /** Best effort: `chat.updated` to every device of `userIds`. */
  chatUpdated(chat: ChatView, userIds: string[]): Promise<void>;
}
