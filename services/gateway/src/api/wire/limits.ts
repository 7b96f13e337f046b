// Every limit the gateway enforces on client input (recorded in docs/protocol.md).

export const LIMITS = {
  /** Request ids: 1–64 characters (protocol.md §3). */
  idMaxLength: 64,
  /** Opaque ids the client names (chatId, userId, mediaId, deviceId): 1–128 characters. */
  refMaxLength: 128,
  clientMsgIdMin: 8,
  clientMsgIdMax: 64,
  /** Text body: 1–16 384 UTF-8 bytes. */
  textMaxBytes: 16_384,
  /** Ciphertext: ≤ 64 KiB decoded. */
  ciphertextMaxBytes: 65_536,
  attachmentsMax: 10,
  ackItemsMax: 500,
  presenceUserIdsMax: 500,
  /** Users named in one chat.create / chat.members.add / chat.members.remove. */
  memberUserIdsMax: 1024,
  /** Group names: 1–128 characters (UTF-16 code units are not what users count; ajv counts code points). */
  chatNameMax: 128,
  historyLimitMax: 100,
  historyLimitDefault: 50,
  pushTokenMax: 4096,
  /** Largest seq a client may name (JSON numbers are exact up to 2^53-1). */
  seqMax: Number.MAX_SAFE_INTEGER,
  /** Bad frames tolerated per minute before close 1008. */
  badFramesPerMinute: 20,
} as const;
