// MessageSender: validate, authorize, dedupe, commit, publish (design.md "The send path").
//
// Dedupe is permanent on (sender, chatId, clientMsgId) — (`#system`, chatId, idempotencyKey) for
// AppendSystemMessage — in `message_dedupe`:
//   1. CLAIM the key with `INSERT … IF NOT EXISTS` (message id, createdAt, a base seq, an owner, claimedAt).
//   2. COMMIT through the chat's sequencer, which (after the commit, before answering) sets the dedupe
//      row's seq and publishes the message, in seq order.
// A repeat finds the row: with a seq → it is a duplicate: the stored message is republished (healing a crash
// between commit and publish) and returned with duplicate:true. Without a seq → the first attempt is still
// running or died between claim and commit (or between commit and setting the seq). The owner commits only
// until claimedAt + commitTimeout; after claimedAt + lease (> commitTimeout + the store's own timeouts) — or
// at once when the owner is this very process and the attempt is over — a retry TAKES OVER the claim (LWT on
// the owner), scans the log after the base seq for the claimed message id with a SERIAL read (which also
// completes a commit left in flight) and either adopts the found seq (duplicate:true) or commits the message
// with the claimed id (duplicate:false). A young claim owned elsewhere → `unavailable` after a short wait;
// the client retries with the same clientMsgId.
import { create } from '@bufbuild/protobuf';
import { commonV1 } from '@parley/proto';
import type { ChatSequencer, Guard } from './chat-sequencer.js';
import type { SendAuthorizer } from './authorizer.js';
import { validateSendInput, type SendInput } from './body.js';
import { internal, notFound, unavailable, badRequest } from './errors.js';
import {
  SYSTEM_SENDER,
  type Claim,
  type ClaimRow,
  type DedupeKey,
  type DedupeStore,
  type LogReader,
  type MediaPort,
  type MessagePublisher,
} from './ports.js';

export interface SendRequest extends SendInput {
  userId: string;
  deviceId: string;
}

export interface SendResult {
  message: commonV1.Message;
  duplicate: boolean;
}

export interface MessageSenderDeps {
  sequencer: ChatSequencer;
  authorizer: SendAuthorizer;
  dedupe: DedupeStore;
  log: LogReader;
  publisher: MessagePublisher;
  media: MediaPort;
  /** Unique per process start. */
  instanceId: string;
  commitTimeoutMs: number;
  claimLeaseMs: number;
  /** How long a repeat waits for a claim in progress elsewhere before answering `unavailable`. */
  inProgressWaitMs?: number;
  newId: () => string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class MessageSender {
  private readonly inflight = new Map<string, Promise<SendResult>>();
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private ownerSeq = 0;

  constructor(private readonly d: MessageSenderDeps) {
    this.now = d.now ?? Date.now;
    this.sleep = d.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async send(req: SendRequest): Promise<SendResult> {
    validateSendInput(req);
    if (!req.userId || !req.deviceId) throw badRequest('userId and deviceId are required');
    const { asOf, member } = await this.d.authorizer.authorize(req.chatId, req.userId);
    const guard: Guard = { asOf, revalidate: async () => void (await this.d.authorizer.authorize(req.chatId, req.userId, true)) };
    const key: DedupeKey = { sender: req.userId, chatId: req.chatId, clientKey: req.clientMsgId };
    // The attachments and the reply target are checked before claiming (a failure leaves no claim behind).
    const attachments = req.attachmentMediaIds.length > 0 ? await this.d.media.resolveAttachments(req.userId, [...req.attachmentMediaIds]) : [];
    if (req.replyTo !== undefined) {
      if (req.replyTo < member.joinedSeq) throw notFound('replyTo: no such message');
      const target = await this.d.log.getMessage(req.chatId, req.replyTo);
      if (!target) throw notFound('replyTo: no such message');
    }
    const build = (messageId: string, createdAt: number): commonV1.Message =>
      create(commonV1.MessageSchema, {
        chatId: req.chatId,
        messageId,
        kind: commonV1.MessageKind.USER,
        sender: { userId: req.userId, deviceId: req.deviceId },
        clientMsgId: req.clientMsgId,
        body: req.body ?? create(commonV1.MessageBodySchema, {}),
        attachments,
        ...(req.replyTo !== undefined ? { replyTo: req.replyTo } : {}),
        createdAt: BigInt(createdAt),
      });
    return this.once(key, build, guard);
  }

  async appendSystem(chatId: string, idempotencyKey: string, system: commonV1.SystemInfo): Promise<SendResult> {
    if (!chatId) throw badRequest('chatId is required');
    if (!idempotencyKey || idempotencyKey.length > 200) throw badRequest('idempotencyKey must be 1–200 characters');
    if (system.action === commonV1.SystemAction.UNSPECIFIED) throw badRequest('system.action is required');
    const key: DedupeKey = { sender: SYSTEM_SENDER, chatId, clientKey: idempotencyKey };
    const build = (messageId: string, createdAt: number): commonV1.Message =>
      create(commonV1.MessageSchema, {
        chatId,
        messageId,
        kind: commonV1.MessageKind.SYSTEM,
        sender: { userId: system.actor, deviceId: '' },
        clientMsgId: idempotencyKey,
        body: create(commonV1.MessageBodySchema, {}),
        createdAt: BigInt(createdAt),
        system,
      });
    return this.once(key, build, undefined);
  }

  /** One attempt per key at a time in this process; concurrent repeats share it. */
  private once(key: DedupeKey, build: (id: string, at: number) => commonV1.Message, guard: Guard | undefined): Promise<SendResult> {
    const k = `${key.sender}\u0000${key.chatId}\u0000${key.clientKey}`;
    const running = this.inflight.get(k);
    if (running) return running.then((r) => ({ ...r, duplicate: true }));
    const p = this.attempt(key, build, guard).finally(() => this.inflight.delete(k));
    this.inflight.set(k, p);
    return p;
  }

  private newOwner(): string {
    this.ownerSeq += 1;
    return `${this.d.instanceId}:${this.ownerSeq}`;
  }

  private async attempt(key: DedupeKey, build: (id: string, at: number) => commonV1.Message, guard: Guard | undefined): Promise<SendResult> {
    const now = this.now();
    const claim: Claim = {
      messageId: this.d.newId(),
      createdAt: now,
      baseSeq: await this.d.sequencer.knownHead(key.chatId),
      owner: this.newOwner(),
      claimedAt: now,
    };
    const r = await this.d.dedupe.claim(key, claim);
    if (r.applied) return this.commitClaimed(key, claim, build, guard);
    let row: ClaimRow | undefined = r.existing;
    let polls = Math.ceil((this.d.inProgressWaitMs ?? 2000) / 50);
    for (;;) {
      if (!row) throw internal('dedupe row vanished');
      if (row.seq !== undefined) return this.duplicateOf(key, row.seq);
      // This process owns it and (since attempts are coalesced per key) its attempt is over.
      const oursIdle = row.owner.startsWith(`${this.d.instanceId}:`);
      const abandoned = this.now() - row.claimedAt >= this.d.claimLeaseMs;
      if (oursIdle || abandoned) {
        const owner = this.newOwner();
        const at = this.now();
        if (await this.d.dedupe.takeOver(key, row.owner, owner, at)) {
          const found = await this.d.log.findMessageId(key.chatId, row.baseSeq, row.messageId);
          if (found !== undefined) {
            await this.d.dedupe.setSeq(key, found);
            return this.duplicateOf(key, found);
          }
          return this.commitClaimed(key, { ...row, owner, claimedAt: at }, build, guard);
        }
      } else if (polls <= 0) {
        throw unavailable('a send with this id is still in progress; retry');
      } else {
        polls -= 1;
        await this.sleep(50);
      }
      row = await this.d.dedupe.get(key);
    }
  }

  private async commitClaimed(key: DedupeKey, claim: Claim, build: (id: string, at: number) => commonV1.Message, guard: Guard | undefined): Promise<SendResult> {
    const draft = build(claim.messageId, claim.createdAt);
    // The sequencer sets the dedupe seq and publishes before resolving (see MessageService wiring).
    const seq = await this.d.sequencer.commit(key.chatId, draft, guard, claim.claimedAt + this.d.commitTimeoutMs);
    return { message: { ...draft, seq } as commonV1.Message, duplicate: false };
  }

  private async duplicateOf(key: DedupeKey, seq: bigint): Promise<SendResult> {
    const msg = await this.d.log.getMessage(key.chatId, seq);
    if (!msg) throw internal(`dedupe row points at a missing message ${key.chatId}/${seq}`);
    // Republish: heals a crash between commit and publish (fan-out and clients dedupe by (chatId, seq)).
    await this.d.publisher.publishMessages([msg]);
    return { message: msg, duplicate: true };
  }
}
