// Sequencer shard leases (docs/architecture.md §3, "One sequencer per chat shard"). Chats hash onto a fixed
// number of shards; this process sequences a chat only while it holds the chat's shard. Holding is two
// facts: the shard row names this owner at epoch e (changed only by a lightweight transaction), and this
// owner's heartbeat (a plain write, every leaseMs/5) has not expired. Another process takes a shard over
// only after the holder's heartbeat has expired by the wall clock (or the holder released it), and then
// raises the epoch.
//
// Safety of a write: the holder treats its lease as valid until (local monotonic time at which its latest
// successful heartbeat was SENT) + leaseMs − marginMs. marginMs covers clock skew between hosts plus the
// store's write timeout, so a write the holder still counts as valid has been applied (or dropped) before
// anyone can take the shard. Every log write also carries a timestamp derived from the epoch
// (epoch << 40 | counter), so where a paused old holder's late write and the new holder's write meet at one
// seq, the new holder's wins in the store whatever the arrival order: the old holder's write is refused.
import { unavailable } from './errors.js';

export interface ShardRow {
  shard: number;
  owner: string;
  epoch: bigint;
}
export interface OwnerRow {
  owner: string;
  addr: string;
  expiresAt: number;
}

export interface LeaseStore {
  shards(): Promise<ShardRow[]>;
  owners(): Promise<OwnerRow[]>;
  heartbeat(owner: string, addr: string, expiresAt: number, ttlS: number): Promise<void>;
  retire(owner: string): Promise<void>;
  /** Moves `shard` from `from` (undefined: the row does not exist yet) to `to`; false if someone else moved it. */
  transfer(shard: number, from: { owner: string; epoch: bigint } | undefined, to: { owner: string; epoch: bigint }): Promise<boolean>;
}

/** What the sequencer holds while it writes one batch of a chat. */
export interface Lease {
  shard: number;
  epoch: bigint;
  /** The write timestamp for the next batch (fenced by the epoch). */
  timestamp(): bigint;
  /** Whether the lease is still held (checked after a write, before it is published or answered). */
  valid(): boolean;
}

export interface ShardLeasesOptions {
  owner: string;
  /** host:port other replicas forward sends to. */
  addr: string;
  shards: number;
  leaseMs: number;
  marginMs: number;
  now?: () => number;
  mono?: () => number;
  onChange?: (event: 'acquired' | 'lost' | 'released', shard: number, epoch: bigint) => void;
  onError?: (err: unknown) => void;
}

/** FNV-1a, 32 bit: a stable shard for a chat id. */
export function shardOf(chatId: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < chatId.length; i++) {
    h ^= chatId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

export class ShardLeases {
  private readonly held = new Map<number, bigint>(); // shard → epoch
  private ownerOf = new Map<number, string>(); // shard → owner (last read)
  private addrOf = new Map<string, string>(); // owner → addr
  private validUntil = 0;
  private counter = 0n;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private readonly waiters = new Set<() => void>();
  private readonly now: () => number;
  private readonly mono: () => number;
  private first: Promise<void> | undefined;

  constructor(
    private readonly store: LeaseStore,
    private readonly o: ShardLeasesOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.mono = o.mono ?? (() => performance.now());
  }

  get owner(): string {
    return this.o.owner;
  }

  /** The address other replicas forward to (known once the gRPC server listens). */
  setAddr(addr: string): void {
    this.o.addr = addr;
  }

  /** Resolves after the first round (heartbeat, table read, acquisitions) has finished. */
  ready(): Promise<void> {
    return this.first ?? Promise.resolve();
  }

  shardOf(chatId: string): number {
    return shardOf(chatId, this.o.shards);
  }

  /** Shards this process holds now (valid lease). */
  heldShards(): number[] {
    return this.mono() < this.validUntil ? [...this.held.keys()].sort((a, b) => a - b) : [];
  }

  /** The lease for a chat's shard if this process holds it now. */
  lease(chatId: string): Lease | undefined {
    const shard = this.shardOf(chatId);
    const epoch = this.held.get(shard);
    if (epoch === undefined || this.mono() >= this.validUntil) return undefined;
    return {
      shard,
      epoch,
      timestamp: () => {
        this.counter = (this.counter + 1n) & ((1n << 40n) - 1n);
        return (epoch << 40n) | this.counter;
      },
      valid: () => this.held.get(shard) === epoch && this.mono() < this.validUntil,
    };
  }

  /** Where a chat's sequencer lives when it is not here: the holder's forward address, if known and alive. */
  remoteOwnerAddr(chatId: string): string | undefined {
    const owner = this.ownerOf.get(this.shardOf(chatId));
    if (!owner || owner === this.o.owner) return undefined;
    return this.addrOf.get(owner);
  }

  /** Waits until this process holds the chat's shard or it is known to live elsewhere (or the time is up). */
  async settle(chatId: string, timeoutMs: number): Promise<Lease | undefined> {
    const deadline = this.mono() + timeoutMs;
    for (;;) {
      const l = this.lease(chatId);
      if (l || this.remoteOwnerAddr(chatId) || this.stopped) return l;
      const left = deadline - this.mono();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(left, 250));
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.waiters.add(done);
      });
    }
  }

  /** The lease for a chat, or `unavailable` (the caller forwards or lets the client retry). */
  require(chatId: string): Lease {
    const l = this.lease(chatId);
    if (!l) throw unavailable('this chat is being sequenced elsewhere or changing hands; retry');
    return l;
  }

  start(): void {
    const every = Math.max(50, Math.floor(this.o.leaseMs / 5));
    const loop = () => {
      if (this.stopped) return;
      this.ticking = this.tick()
        .catch((err) => this.o.onError?.(err))
        .finally(() => {
          this.ticking = undefined;
          if (!this.stopped) this.timer = setTimeout(loop, every);
        });
    };
    loop();
    this.first = this.ticking;
  }

  /** Releases every shard (successors take over at once) and retires the heartbeat. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    const mine = [...this.held];
    this.held.clear();
    this.validUntil = 0;
    await Promise.all(
      mine.map(async ([shard, epoch]) => {
        try {
          await this.store.transfer(shard, { owner: this.o.owner, epoch }, { owner: '', epoch });
          this.o.onChange?.('released', shard, epoch);
        } catch (err) {
          this.o.onError?.(err);
        }
      }),
    );
    await this.store.retire(this.o.owner).catch((err) => this.o.onError?.(err));
    this.wake();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
    this.waiters.clear();
  }

  /** One round: heartbeat, read the table, drop what was lost, take what is free, give back the excess. */
  async tick(): Promise<void> {
    const sentAt = this.mono();
    const ttlS = Math.max(1, Math.ceil((this.o.leaseMs * 3) / 1000));
    await this.store.heartbeat(this.o.owner, this.o.addr, this.now() + this.o.leaseMs, ttlS);
    this.validUntil = sentAt + this.o.leaseMs - this.o.marginMs;
    const [rows, owners] = await Promise.all([this.store.shards(), this.store.owners()]);
    const now = this.now();
    const alive = new Map(owners.filter((x) => x.expiresAt >= now).map((x) => [x.owner, x.addr]));
    alive.set(this.o.owner, this.o.addr);
    this.addrOf = alive;
    const byShard = new Map(rows.map((r) => [r.shard, r]));
    this.ownerOf = new Map(rows.map((r) => [r.shard, r.owner]));
    for (const [shard, epoch] of [...this.held]) {
      const r = byShard.get(shard);
      if (!r || r.owner !== this.o.owner || r.epoch !== epoch) {
        this.held.delete(shard);
        this.o.onChange?.('lost', shard, epoch);
      }
    }
    const target = Math.ceil(this.o.shards / alive.size);
    // Free: never owned, released, or owned by someone whose heartbeat expired.
    const free: number[] = [];
    for (let s = 0; s < this.o.shards; s++) {
      if (this.held.has(s)) continue;
      const r = byShard.get(s);
      if (!r || r.owner === '' || !alive.has(r.owner)) free.push(s);
    }
    // Spread the pick so that two newcomers do not fight over the same shards first.
    const offset = shardOf(this.o.owner, Math.max(1, free.length));
    const order = free.map((_, i) => free[(i + offset) % free.length]!);
    // Take up to the fair share, all at once (LWTs on different shards do not contend); a lost race is
    // simply not held, and the next round looks again.
    const want = this.stopped ? [] : order.slice(0, Math.max(0, target - this.held.size));
    await Promise.all(
      want.map(async (s) => {
        const r = byShard.get(s);
        const next = { owner: this.o.owner, epoch: (r?.epoch ?? 0n) + 1n };
        if (await this.store.transfer(s, r ? { owner: r.owner, epoch: r.epoch } : undefined, next)) {
          this.held.set(s, next.epoch);
          this.ownerOf.set(s, this.o.owner);
          this.o.onChange?.('acquired', s, next.epoch);
        }
      }),
    );
    // Give back the excess over the fair share (others pick it up on their next round).
    if (this.held.size > target) {
      const extra = [...this.held].slice(target);
      for (const [s, epoch] of extra) {
        this.held.delete(s);
        try {
          await this.store.transfer(s, { owner: this.o.owner, epoch }, { owner: '', epoch });
          this.ownerOf.set(s, '');
          this.o.onChange?.('released', s, epoch);
        } catch (err) {
          this.o.onError?.(err);
        }
      }
    }
    this.wake();
  }
}
