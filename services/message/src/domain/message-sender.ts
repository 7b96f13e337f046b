// MessageSender: validate, authorize, dedupe, sequence, publish (docs/architecture.md §3).
//
// Every send is queued in its chat's sequencer the moment it arrives (ChatSequencer.submit), so sends that
// arrive on one connection for one chat get increasing seqs in arrival order, however many are in flight;
// its checks (authorization, attachments, replyTo, the dedupe row) run while it waits in the queue.
//
// Dedupe is permanent on (sender, chatId, clientMsgId) — (`#system`, chatId, idempotencyKey) for
// AppendSystemMessage:
//   - concurrent repeats in this process share one attempt (the in-flight map);
//   - recent sends are answered from the sequencer's memory (it holds the chat's shard lease, so it has seen
//     every recent send of the chat; on (re)acquiring a shard it seeds that memory from the log's tail);
//   - older ones from the `message_dedupe` row, a plain write made with the commit (before the reply). That
//     row is not even read while the sequencer remembers the chat's whole log (a chat shorter than its seed
//     of 1024, none of its keys evicted): a key it does not know was never committed.
// A duplicate is republished (healing a crash between commit and publish; the fan-out and clients dedupe by
// (chatId, seq)) and answered with duplicate:true and the stored message.
import { create } from '@bufbuild/protobuf';
import { commonV1 } from '@parley/proto';
import type { ChatSequencer, Prepared } from './chat-sequencer.js';
import type { SendAuthorizer } from './authorizer.js';
import { validateSendInput, type SendInput } from './body.js';
import { internal, notFound, badRequest } from './errors.js';
import { SYSTEM_SENDER, dedupeKeyOf, dedupeKeyString, type DedupeKey, type DedupeStore, type LogReader, type MediaPort, type MessagePublisher } from './ports.js';

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
  /** A send not committed this long after it arrived fails with `unavailable` (it was not committed). */
  commitTimeoutMs: number;
  newId: () => string;
  now?: () => number;
}

export class MessageSender {
  private readonly inflight = new Map<string, Promise<SendResult>>();
  private readonly now: () => number;

  constructor(private readonly d: MessageSenderDeps) {
    this.now = d.now ?? Date.now;
  }

  send(req: SendRequest): Promise<SendResult> {
    try {
      validateSendInput(req);
      if (!req.userId || !req.deviceId) throw badRequest('userId and deviceId are required');
    } catch (err) {
      return Promise.reject(err);
    }
    const key: DedupeKey = { sender: req.userId, chatId: req.chatId, clientKey: req.clientMsgId };
    return this.once(key, async (messageId, createdAt): Promise<Prepared> => {
      const { asOf, member } = await this.d.authorizer.authorize(req.chatId, req.userId);
      const guard = { asOf, revalidate: async () => void (await this.d.authorizer.authorize(req.chatId, req.userId, true)) };
      const [row, attachments] = await Promise.all([
        this.d.sequencer.remembersAll(req.chatId) ? undefined : this.d.dedupe.get(key),
        req.attachmentMediaIds.length > 0 ? this.d.media.resolveAttachments(req.userId, [...req.attachmentMediaIds]) : Promise.resolve([]),
        req.replyTo !== undefined ? this.checkReply(req.chatId, req.replyTo, member.joinedSeq) : Promise.resolve(),
      ]);
      if (await this.names(key, row?.seq)) return { kind: 'duplicate', seq: row!.seq! };
      const draft = create(commonV1.MessageSchema, {
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
      return { kind: 'commit', draft, guard };
    });
  }

  appendSystem(chatId: string, idempotencyKey: string, system: commonV1.SystemInfo): Promise<SendResult> {
    if (!chatId) return Promise.reject(badRequest('chatId is required'));
    if (!idempotencyKey || idempotencyKey.length > 200) return Promise.reject(badRequest('idempotencyKey must be 1–200 characters'));
    if (system.action === commonV1.SystemAction.UNSPECIFIED) return Promise.reject(badRequest('system.action is required'));
    const key: DedupeKey = { sender: SYSTEM_SENDER, chatId, clientKey: idempotencyKey };
    return this.once(key, async (messageId, createdAt): Promise<Prepared> => {
      const row = this.d.sequencer.remembersAll(chatId) ? undefined : await this.d.dedupe.get(key);
      if (await this.names(key, row?.seq)) return { kind: 'duplicate', seq: row!.seq! };
      const draft = create(commonV1.MessageSchema, {
        chatId,
        messageId,
        kind: commonV1.MessageKind.SYSTEM,
        sender: { userId: system.actor, deviceId: '' },
        clientMsgId: idempotencyKey,
        body: create(commonV1.MessageBodySchema, {}),
        createdAt: BigInt(createdAt),
        system,
      });
      return { kind: 'commit', draft, guard: undefined };
    });
  }

  /**
   * Whether a dedupe row's seq really holds this send. The row is written with the log write, before the
   * lease check: a write fenced out by a later epoch can leave a row whose seq now holds another message (or,
   * the batch being non-atomic across partitions, no message at all). The log is the truth.
   */
  private async names(key: DedupeKey, seq: bigint | undefined): Promise<boolean> {
    if (seq === undefined) return false;
    const at = await this.d.log.getMessage(key.chatId, seq);
    return at !== undefined && dedupeKeyString(dedupeKeyOf(at)) === dedupeKeyString(key);
  }

  private async checkReply(chatId: string, replyTo: bigint, joinedSeq: bigint): Promise<void> {
    if (replyTo < joinedSeq) throw notFound('replyTo: no such message');
    const target = await this.d.log.getMessage(chatId, replyTo);
    if (!target) throw notFound('replyTo: no such message');
  }

  /**
   * One attempt per key at a time in this process; concurrent repeats share it. The submission is queued in
   * the chat's sequencer synchronously, before any I/O, which is what makes arrival order seq order.
   */
  private once(key: DedupeKey, prepare: (messageId: string, createdAt: number) => Promise<Prepared>): Promise<SendResult> {
    const k = dedupeKeyString(key);
    const running = this.inflight.get(k);
    if (running) return running.then((r) => ({ ...r, duplicate: true }));
    const at = this.now();
    const outcome = this.d.sequencer.submit(key.chatId, { key: k, prepare: prepare(this.d.newId(), at), deadline: at + this.d.commitTimeoutMs });
    const p = outcome
      .then((o) => (o.kind === 'committed' ? { message: o.message, duplicate: false } : this.duplicateOf(key, o.seq)))
      .finally(() => this.inflight.delete(k));
    this.inflight.set(k, p);
    return p;
  }

  private async duplicateOf(key: DedupeKey, seq: bigint): Promise<SendResult> {
    const msg = await this.d.log.getMessage(key.chatId, seq);
    if (!msg) throw internal(`dedupe row points at a missing message ${key.chatId}/${seq}`);
    // Republish: heals a crash between commit and publish (fan-out and clients dedupe by (chatId, seq)).
    await this.d.publisher.publishMessages([msg]);
    return { message: msg, duplicate: true };
  }
}
