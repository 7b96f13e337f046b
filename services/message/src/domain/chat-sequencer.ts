// Per-chat sequencing (design.md "The send path" step 2; docs/architecture.md §3). Two modes:
//  - FENCED (production, `leases` set): this process sequences a chat only while it holds the lease of the
//    chat's shard (shard-leases.ts). The head lives in memory, batches are PLAIN writes carrying an
//    epoch-derived timestamp, and the lease is checked again after each write before anything is published
//    or answered. No consensus round per message. Dedupe of recent sends is answered from memory (seeded
//    from the log's tail whenever the shard is (re)acquired), older ones from the dedupe table.
//  - CONDITIONAL (no leases; kept for the unit tests of several writers): each chat has one commit loop that
// assigns seq = last + 1 and commits queued messages with ONE conditional batch (`INSERT … IF NOT EXISTS`
// on consecutive seqs of one bucket, atomic and linearizable through Paxos). Losing the race to another
// instance re-reads the head (the winner's seq) and retries at head + 1. So the log is unique, gap-free and
// durable before anyone is answered, with no coordinator.
//
// Membership-changing system messages are part of the sequence. Each user message carries a guard: the
// seq up to which its sender's membership was verified (`asOf`). The loop knows `membershipSeq`, the latest
// seq known to (possibly) change membership: its own system commits, and any foreign commit whose rows show
// one. A guard older than that is re-verified (fresh GetMembers) before the message is committed, so a
// stale membership cache can never authorize a send after a removal.
import type { commonV1 } from '@parley/proto';
import { bucketOf } from './buckets.js';
import { changesMembership } from './membership.js';
import { unavailable } from './errors.js';
import type { Lease } from './shard-leases.js';
import { dedupeKeyOf, dedupeKeyString, type MessagePublisher } from './ports.js';
import { LruMap } from './lru.js';

export interface SequencerStore {
  /** A lower bound of the chat's head (e.g. the chat_heads hint); 0 when unknown. */
  headHint(chatId: string): Promise<bigint>;
  /** The committed head: the highest seq present in the log, probing forward from `from` (a lower bound). */
  findHead(chatId: string, from: bigint): Promise<bigint>;
  /**
   * Atomically inserts `msgs` (consecutive seqs, one bucket) iff none of the seqs exists. With
   * `writeTimestamp` (fenced mode) it is a plain write at that timestamp and always applies, and it records
   * each message's dedupe row and the chat's head in the same request (the post-commit step only publishes).
   */
  insertBatch(chatId: string, msgs: commonV1.Message[], writeTimestamp?: bigint): Promise<boolean>;
  /** Descending messages in [from, …) down to > after, at most `limit` (the tail, to seed dedupe). */
  readBefore(chatId: string, from: bigint, after: bigint, limit: number): Promise<commonV1.Message[]>;
  /** Whether any message in (after, upTo] changes membership. */
  membershipChangedIn(chatId: string, after: bigint, upTo: bigint): Promise<boolean>;
}

/**
 * The post-commit step as a bare function (tests). The service passes its MessagePublisher instead
 * (adapters/chat-events.ts ChatEvents: chat.messages.v1), which the sequencer calls after each committed batch,
 * in seq order, before the senders are answered.
 */
export type PostCommit = (chatId: string, msgs: commonV1.Message[]) => Promise<void>;

export interface Guard {
  /** Membership was verified as of this seq. */
  asOf: bigint;
  /** Verify again now (throws not_member). */
  revalidate(): Promise<void>;
}

/** What a submission turns out to be, once its checks (authorization, dedupe row, …) are done. */
export type Prepared =
  | { kind: 'commit'; draft: commonV1.Message; guard: Guard | undefined }
  /** The dedupe table already names the seq of this send. */
  | { kind: 'duplicate'; seq: bigint };

export type Outcome = { kind: 'committed'; message: commonV1.Message } | { kind: 'duplicate'; seq: bigint };

/** A send, queued at arrival (so that arrival order is seq order) while its checks run. */
export interface Submission {
  /** Dedupe identity (sender, chat, clientMsgId), answered from memory for recent sends. */
  key: string;
  prepare: Promise<Prepared>;
  deadline: number;
}

type Settled = { ok: true; v: Prepared } | { ok: false; err: unknown };

interface Pending {
  key: string;
  at: number;
  prepare: Promise<Prepared>;
  settled: Settled | undefined;
  deadline: number;
  resolve(o: Outcome): void;
  reject(err: unknown): void;
}

interface ChatState {
  lastSeq: bigint | undefined;
  membershipSeq: bigint;
  /** Fenced mode: the lease epoch the head (and the dedupe memory) were loaded under. */
  epoch: bigint | undefined;
  /**
   * Fenced mode: the dedupe memory holds the key of EVERY message in the chat's log (the whole log fit in the
   * seed, and none of its keys has been evicted since), so a key it does not know was never committed.
   */
  complete: boolean;
  queue: Pending[];
  running: boolean;
  touched: number;
}

/** The lease source of fenced mode (ShardLeases). */
export interface LeaseSource {
  require(chatId: string): Lease;
}

export interface SequencerOptions {
  bucketSize: bigint;
  maxBatch?: number;
  maxChats?: number;
  now?: () => number;
  onConflict?: () => void;
  onBatch?: (size: number) => void;
  /** Time spent per step of a send (ms): `queued` arrival → committable (its checks and the sends ahead of it), `write` the log write, `post` the post-commit publish. */
  onStage?: (stage: 'queued' | 'write' | 'post', ms: number) => void;
  /** Committed messages whose publish failed (their senders are answered `unavailable`): the Republisher. */
  onUnpublished?: (msgs: commonV1.Message[]) => void;
  /** Fenced mode (see the header). */
  leases?: LeaseSource;
  /** Recent dedupe keys remembered (fenced mode), across chats. */
  recentKeys?: number;
  /** How many of the log's last messages seed the dedupe memory on (re)load (≥ the most in flight). */
  tailSeed?: number;
}

export class ChatSequencer {
  private readonly chats = new Map<string, ChatState>();
  private readonly maxBatch: number;
  private readonly maxChats: number;
  private readonly now: () => number;
  /** chat\0key → seq of recent commits (fenced mode). */
  private readonly recent: LruMap<string, bigint>;
  private readonly loading = new Map<string, Promise<void>>();

  constructor(
    private readonly store: SequencerStore,
    /** Publishes each committed batch before its senders are answered (a failure fails their sends). */
    private readonly publisher: MessagePublisher | PostCommit,
    private readonly opts: SequencerOptions,
  ) {
    this.maxBatch = opts.maxBatch ?? 64;
    this.maxChats = opts.maxChats ?? 100_000;
    this.now = opts.now ?? Date.now;
    this.recent = new LruMap(opts.recentKeys ?? 200_000, (k) => {
      const st = this.chats.get(k.slice(0, k.indexOf('\u0000')));
      if (st) st.complete = false;
    });
  }

  /** The latest seq this process knows committed, loading it if unknown (a lower bound of the head). */
  async knownHead(chatId: string): Promise<bigint> {
    const st = this.state(chatId);
    if (st.lastSeq === undefined) {
      // One load at a time per chat: a burst of sends to a cold chat shares it.
      let p = this.loading.get(chatId);
      if (!p) {
        p = this.load(chatId, st).finally(() => this.loading.delete(chatId));
        this.loading.set(chatId, p);
      }
      await p;
    }
    return st.lastSeq ?? 0n;
  }

  /**
   * Whether a dedupe key this process does not remember is certainly new in this chat (fenced mode, while
   * holding its shard under the epoch its memory was seeded in, with the whole log in that memory). Then the
   * sender need not read the dedupe table; the commit step checks the memory again in any case.
   */
  remembersAll(chatId: string): boolean {
    const st = this.chats.get(chatId);
    if (!st?.complete || st.epoch === undefined || !this.opts.leases) return false;
    try {
      return this.opts.leases.require(chatId).epoch === st.epoch;
    } catch {
      return false;
    }
  }

  /** The head this process knows, without loading it. */
  peekHead(chatId: string): bigint | undefined {
    return this.chats.get(chatId)?.lastSeq;
  }

  /** The latest seq known to change membership (guards older than it are re-verified). */
  membershipSeq(chatId: string): bigint {
    return this.chats.get(chatId)?.membershipSeq ?? 0n;
  }

  /** Forgets the cached head (e.g. after an ambiguous store error). */
  forget(chatId: string): void {
    const st = this.chats.get(chatId);
    if (st && !st.running) this.chats.delete(chatId);
  }

  /**
   * Commits `draft` (seq ignored) at the next seq, returning it. Fails with `unavailable` if it could not be
   * committed before `deadline` (ms epoch); in that case it was NOT committed by this call.
   */
  async commit(chatId: string, draft: commonV1.Message, guard: Guard | undefined, deadline: number): Promise<bigint> {
    const o = await this.submit(chatId, { key: '', prepare: Promise.resolve({ kind: 'commit', draft, guard }), deadline });
    if (o.kind !== 'committed') throw unavailable('unexpected duplicate');
    return o.message.seq;
  }

  /**
   * Queues a send NOW (synchronously: arrival order is seq order for one chat) while its checks run; it is
   * committed, in queue order, once they resolve. A key seen in a recent commit resolves as a duplicate.
   */
  submit(chatId: string, sub: Submission): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      const st = this.state(chatId);
      const p: Pending = { key: sub.key, at: this.now(), prepare: sub.prepare, settled: undefined, deadline: sub.deadline, resolve, reject };
      sub.prepare.then(
        (v) => (p.settled = { ok: true, v }),
        (err: unknown) => (p.settled = { ok: false, err }),
      );
      st.queue.push(p);
      if (!st.running) {
        st.running = true;
        void this.run(chatId, st);
      }
    });
  }

  private state(chatId: string): ChatState {
    let st = this.chats.get(chatId);
    if (!st) {
      if (this.chats.size >= this.maxChats) this.evict();
      st = { lastSeq: undefined, membershipSeq: 0n, epoch: undefined, complete: false, queue: [], running: false, touched: this.now() };
      this.chats.set(chatId, st);
    }
    st.touched = this.now();
    return st;
  }

  private evict(): void {
    // Drop the idle half, oldest first (they reload their head from the store when used again).
    const idle = [...this.chats.entries()].filter(([, s]) => !s.running && s.queue.length === 0).sort((a, b) => a[1].touched - b[1].touched);
    for (const [id] of idle.slice(0, Math.ceil(idle.length / 2))) this.chats.delete(id);
  }

  private async load(chatId: string, st: ChatState): Promise<void> {
    const hint = await this.store.headHint(chatId);
    const head = await this.store.findHead(chatId, hint);
    if (st.lastSeq === undefined || head > st.lastSeq) st.lastSeq = head;
    // What happened before we looked is unknown: any membership snapshot must be taken after this point.
    if (head > st.membershipSeq) st.membershipSeq = head;
  }

  private async run(chatId: string, st: ChatState): Promise<void> {
    try {
      while (st.queue.length > 0) {
        try {
          await this.step(chatId, st);
        } catch (err) {
          // A store error with an unknown outcome (a write that timed out may still have been applied, a
          // lease lost mid-write): fail what is queued, and reload the head AND re-seed the dedupe memory from
          // the log's tail before the next batch, so that a retry of anything written here is a duplicate.
          const failed = st.queue.splice(0);
          st.lastSeq = undefined;
          st.epoch = undefined;
          st.complete = false;
          for (const p of failed) p.reject(err);
        }
      }
    } finally {
      st.running = false;
    }
  }

  /** The seq of a recent commit of this dedupe key in this chat, if this process remembers one. */
  private seen(chatId: string, key: string): bigint | undefined {
    return key ? this.recent.get(`${chatId}\u0000${key}`) : undefined;
  }

  /** Fenced mode: (re)loads the head and seeds the dedupe memory from the log's tail under a new epoch. */
  private async reload(chatId: string, st: ChatState, epoch: bigint): Promise<void> {
    st.lastSeq = undefined;
    st.complete = false;
    await this.load(chatId, st);
    const head = st.lastSeq ?? 0n;
    const n = BigInt(this.opts.tailSeed ?? 1024);
    if (head > 0n) {
      const tail = await this.store.readBefore(chatId, head, head > n ? head - n : 0n, Number(n));
      for (const m of tail) {
        this.recent.set(`${chatId}\u0000${dedupeKeyString(dedupeKeyOf(m))}`, m.seq);
      }
    }
    // The seed read (0, head]: every key of the log is in memory (an eviction clears this again).
    st.complete = head <= n;
    st.epoch = epoch;
  }

  private async step(chatId: string, st: ChatState): Promise<void> {
    const lease = this.opts.leases?.require(chatId);
    if (lease && st.epoch !== lease.epoch) await this.reload(chatId, st, lease.epoch);
    if (st.lastSeq === undefined) await this.load(chatId, st);
    const now = this.now();
    // The front of the queue decides: wait for its checks (later ones keep running meanwhile).
    const front = st.queue[0];
    if (front && !front.settled) {
      await front.prepare.catch(() => undefined);
      return;
    }
    // Settle the front: failed checks, table duplicates, memory duplicates and expired items leave the queue.
    while (st.queue.length > 0 && st.queue[0]!.settled) {
      const p = st.queue[0]!;
      const s = p.settled!;
      if (!s.ok) {
        st.queue.shift();
        p.reject(s.err);
      } else if (s.v.kind === 'duplicate') {
        st.queue.shift();
        p.resolve({ kind: 'duplicate', seq: s.v.seq });
      } else if (this.seen(chatId, p.key) !== undefined) {
        st.queue.shift();
        p.resolve({ kind: 'duplicate', seq: this.seen(chatId, p.key)! });
      } else if (p.deadline <= now) {
        // Expired: never committed by us, so the caller may report `unavailable` and a retry may take over.
        st.queue.shift();
        p.reject(unavailable('the message could not be committed in time; retry'));
      } else break;
    }
    if (st.queue.length === 0 || !st.queue[0]!.settled) return;
    const last = st.lastSeq ?? 0n;
    // The ready prefix of the queue, in order.
    const ready: Array<Pending & { draft: commonV1.Message; guard: Guard | undefined }> = [];
    for (const p of st.queue) {
      if (!p.settled || !p.settled.ok || p.settled.v.kind !== 'commit') break;
      if (this.seen(chatId, p.key) !== undefined) break;
      ready.push(Object.assign(p, { draft: p.settled.v.draft, guard: p.settled.v.guard }));
    }
    // Re-verify senders whose membership check predates a membership change.
    const stale = ready.filter((p) => p.guard && p.guard.asOf < st.membershipSeq);
    if (stale.length > 0) {
      await Promise.all(
        stale.map(async (p) => {
          try {
            await p.guard!.revalidate();
            p.guard!.asOf = last;
          } catch (err) {
            st.queue = st.queue.filter((q) => q !== p);
            p.reject(err);
          }
        }),
      );
      return;
    }
    // Take a batch: consecutive seqs in one bucket, ending after a membership-changing message, no key twice.
    const size = this.opts.bucketSize;
    const bucket = bucketOf(last + 1n, size);
    const batch: typeof ready = [];
    const keys = new Set<string>();
    for (const p of ready) {
      const seq = last + 1n + BigInt(batch.length);
      if (batch.length >= this.maxBatch || bucketOf(seq, size) !== bucket) break;
      if (p.key && keys.has(p.key)) break;
      if (p.key) keys.add(p.key);
      batch.push(p);
      if (changesMembership(p.draft)) break;
    }
    const msgs = batch.map((p, i) => ({ ...p.draft, seq: last + 1n + BigInt(i) }) as commonV1.Message);
    const stage = this.opts.onStage;
    const t0 = this.now();
    if (stage) for (const p of batch) stage('queued', t0 - p.at);
    const applied = await this.store.insertBatch(chatId, msgs, lease?.timestamp());
    const t1 = this.now();
    stage?.('write', t1 - t0);
    if (lease && !lease.valid()) {
      // Written, but the lease may have passed to another process meanwhile: neither publish nor answer.
      // (The new holder seeds its dedupe memory from the log's tail, so a retry becomes a duplicate.)
      throw unavailable('the chat changed sequencer during the write; retry');
    }
    if (!applied) {
      this.opts.onConflict?.();
      const head = await this.store.findHead(chatId, last + 1n);
      if (await this.store.membershipChangedIn(chatId, last, head)) {
        if (head > st.membershipSeq) st.membershipSeq = head;
      }
      if (st.lastSeq === undefined || head > st.lastSeq) st.lastSeq = head;
      return;
    }
    this.opts.onBatch?.(msgs.length);
    st.lastSeq = last + BigInt(msgs.length);
    st.queue.splice(0, batch.length);
    batch.forEach((p, i) => {
      if (p.key) this.recent.set(`${chatId}\u0000${p.key}`, msgs[i]!.seq);
    });
    for (const m of msgs) if (changesMembership(m) && m.seq > st.membershipSeq) st.membershipSeq = m.seq;
    let postErr: unknown;
    try {
      await (typeof this.publisher === 'function' ? this.publisher(chatId, msgs) : this.publisher.publishMessages(msgs));
    } catch (err) {
      postErr = err;
      this.opts.onUnpublished?.(msgs);
    }
    stage?.('post', this.now() - t1);
    batch.forEach((p, i) =>
      postErr === undefined ? p.resolve({ kind: 'committed', message: msgs[i]! }) : p.reject(publishFailed(msgs[i]!.seq, postErr)),
    );
  }
}

/**
 * A send stored at `seq` whose post-commit publish failed (Kafka away): never `ok:true` (nobody is told about
 * the message yet), and not "not committed" either. The answer says so, and the client's retry with the same
 * clientMsgId is answered duplicate:true with this seq while it republishes the stored message
 * (MessageSender.duplicateOf).
 */
export function publishFailed(seq: bigint, cause: unknown): Error {
  return unavailable(`stored at seq ${seq}, but its delivery could not be started; retry with the same clientMsgId (the retry answers duplicate:true with this seq)`, cause);
}
