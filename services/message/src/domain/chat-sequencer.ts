// Per-chat sequencing (design.md "The send path" step 2): each chat has one in-process commit loop that
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

export interface SequencerStore {
  /** A lower bound of the chat's head (e.g. the chat_heads hint); 0 when unknown. */
  headHint(chatId: string): Promise<bigint>;
  /** The committed head: the highest seq present in the log, probing forward from `from` (a lower bound). */
  findHead(chatId: string, from: bigint): Promise<bigint>;
  /** Atomically inserts `msgs` (consecutive seqs, one bucket) iff none of the seqs exists. */
  insertBatch(chatId: string, msgs: commonV1.Message[]): Promise<boolean>;
  /** Whether any message in (after, upTo] changes membership. */
  membershipChangedIn(chatId: string, after: bigint, upTo: bigint): Promise<boolean>;
}

/** Called after each committed batch, in seq order, before the senders are answered (publish, dedupe, head). */
export type PostCommit = (chatId: string, msgs: commonV1.Message[]) => Promise<void>;

export interface Guard {
  /** Membership was verified as of this seq. */
  asOf: bigint;
  /** Verify again now (throws not_member). */
  revalidate(): Promise<void>;
}

interface Pending {
  draft: commonV1.Message;
  guard: Guard | undefined;
  deadline: number;
  resolve(seq: bigint): void;
  reject(err: unknown): void;
}

interface ChatState {
  lastSeq: bigint | undefined;
  membershipSeq: bigint;
  queue: Pending[];
  running: boolean;
  touched: number;
}

export interface SequencerOptions {
  bucketSize: bigint;
  maxBatch?: number;
  maxChats?: number;
  now?: () => number;
  onConflict?: () => void;
  onBatch?: (size: number) => void;
}

export class ChatSequencer {
  private readonly chats = new Map<string, ChatState>();
  private readonly maxBatch: number;
  private readonly maxChats: number;
  private readonly now: () => number;

  constructor(
    private readonly store: SequencerStore,
    private readonly postCommit: PostCommit,
    private readonly opts: SequencerOptions,
  ) {
    this.maxBatch = opts.maxBatch ?? 64;
    this.maxChats = opts.maxChats ?? 100_000;
    this.now = opts.now ?? Date.now;
  }

  /** The latest seq this process knows committed, loading it if unknown (a lower bound of the head). */
  async knownHead(chatId: string): Promise<bigint> {
    const st = this.state(chatId);
    if (st.lastSeq === undefined) await this.load(chatId, st);
    return st.lastSeq ?? 0n;
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
  commit(chatId: string, draft: commonV1.Message, guard: Guard | undefined, deadline: number): Promise<bigint> {
    return new Promise<bigint>((resolve, reject) => {
      const st = this.state(chatId);
      st.queue.push({ draft, guard, deadline, resolve, reject });
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
      st = { lastSeq: undefined, membershipSeq: 0n, queue: [], running: false, touched: this.now() };
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
          // A store error with an unknown outcome: fail what is queued, forget the head (reload next time).
          const failed = st.queue.splice(0);
          st.lastSeq = undefined;
          for (const p of failed) p.reject(err);
        }
      }
    } finally {
      st.running = false;
    }
  }

  private async step(chatId: string, st: ChatState): Promise<void> {
    if (st.lastSeq === undefined) await this.load(chatId, st);
    const now = this.now();
    // Expired: never committed by us, so the caller may report `unavailable` and a retry may take over.
    st.queue = st.queue.filter((p) => {
      if (p.deadline > now) return true;
      p.reject(unavailable('the message could not be committed in time; retry'));
      return false;
    });
    if (st.queue.length === 0) return;
    const last = st.lastSeq ?? 0n;
    // Re-verify senders whose membership check predates a membership change.
    const stale = st.queue.filter((p) => p.guard && p.guard.asOf < st.membershipSeq);
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
    // Take a batch: consecutive seqs in one bucket, ending after a membership-changing message.
    const size = this.opts.bucketSize;
    const bucket = bucketOf(last + 1n, size);
    const batch: Pending[] = [];
    for (const p of st.queue) {
      const seq = last + 1n + BigInt(batch.length);
      if (batch.length >= this.maxBatch || bucketOf(seq, size) !== bucket) break;
      batch.push(p);
      if (changesMembership(p.draft)) break;
    }
    const msgs = batch.map((p, i) => ({ ...p.draft, seq: last + 1n + BigInt(i) }) as commonV1.Message);
    const applied = await this.store.insertBatch(chatId, msgs);
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
    for (const m of msgs) if (changesMembership(m) && m.seq > st.membershipSeq) st.membershipSeq = m.seq;
    let postErr: unknown;
    try {
      await this.postCommit(chatId, msgs);
    } catch (err) {
      postErr = err;
    }
    batch.forEach((p, i) => (postErr === undefined ? p.resolve(msgs[i]!.seq) : p.reject(postErr)));
  }
}
