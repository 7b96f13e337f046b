import { isUnimplemented } from './errors.js';

// Group commit: the one batching mechanism of the hot paths (docs/architecture.md §3, "Batching at every
// hop"). While a call is in flight, new requests queue; the next call takes everything that queued. So the
// batch size follows the load (1 when idle, hundreds under load) and no timer adds latency. A request always
// goes into a call that starts after it arrived, so a batched read sees every write that finished before
// the request was made (it is never answered from a read already under way).

export interface Pending<Req, Res> {
  req: Req;
  resolve(r: Res): void;
  reject(err: unknown): void;
}

export interface GroupCommitOptions<Req> {
  /** Weight of one batch (the sum of `weight` of its requests; a lone heavier request still goes alone). Default 512. */
  maxBatch?: number;
  /** Weight of one request (default 1). */
  weight?: (req: Req) => number;
  /** Calls in flight at once (default 1). */
  maxInFlight?: number;
  /** Wait for the rest of this turn of the event loop before the first call (frames that arrived in one read). */
  gatherTurn?: boolean;
  onBatch?: (size: number) => void;
}

/**
 * `run` gets one batch and must settle every item; `release` lets the next call start before this one ends
 * (it is called for you when the returned promise settles). Items `run` leaves unsettled are rejected.
 */
export class GroupCommit<Req, Res> {
  private readonly q: Array<Pending<Req, Res>> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly run: (items: Array<Pending<Req, Res>>, release: () => void) => Promise<void>,
    private readonly o: GroupCommitOptions<Req> = {},
  ) {}

  /** Requests waiting for a call. */
  get queued(): number {
    return this.q.length;
  }

  enqueue(req: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.q.push({ req, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inFlight >= (this.o.maxInFlight ?? 1) || this.scheduled || this.q.length === 0) return;
    if (!this.o.gatherTurn) return this.flush();
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private take(): Array<Pending<Req, Res>> {
    const max = Math.max(1, this.o.maxBatch ?? 512);
    const weight = this.o.weight;
    if (!weight) return this.q.splice(0, max);
    let n = 0;
    let total = 0;
    while (n < this.q.length) {
      const w = weight(this.q[n]!.req);
      if (n > 0 && total + w > max) break;
      total += w;
      n++;
    }
    return this.q.splice(0, n);
  }

  private flush(): void {
    while (this.q.length > 0 && this.inFlight < (this.o.maxInFlight ?? 1)) {
      const items = this.take();
      this.inFlight++;
      try {
        this.o.onBatch?.(items.length);
      } catch {
        /* a metric must not lose the batch */
      }
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.inFlight--;
        this.schedule();
      };
      // Rejecting a settled promise is a no-op: after `run`, whatever it left unsettled is rejected.
      void Promise.resolve()
        .then(() => this.run(items, release))
        .then(
          () => {
            for (const it of items) it.reject(new Error('group commit: the call left this request unsettled'));
          },
          (err: unknown) => {
            for (const it of items) it.reject(err);
          },
        )
        .finally(release);
    }
  }
}

/**
 * Keyed reads, group-committed: concurrent `getMany`s become one `lookup` of the union of their keys (each
 * key once), answered by key. A key the lookup leaves out is absent from the answer.
 */
export class BatchedLookup<K, V> {
  private readonly gc: GroupCommit<K[], Map<K, V>>;

  constructor(lookup: (keys: K[]) => Promise<Map<K, V>>, o: { maxKeys?: number; maxInFlight?: number; onBatch?: (keys: number) => void } = {}) {
    this.gc = new GroupCommit<K[], Map<K, V>>(
      async (items) => {
        const keys = [...new Set(items.flatMap((i) => i.req))];
        o.onBatch?.(keys.length);
        const found = await lookup(keys);
        for (const it of items) {
          const mine = new Map<K, V>();
          for (const k of it.req) {
            const v = found.get(k);
            if (v !== undefined) mine.set(k, v);
          }
          it.resolve(mine);
        }
      },
      { maxBatch: o.maxKeys ?? 512, weight: (ks) => ks.length, maxInFlight: o.maxInFlight ?? 1 },
    );
  }

  getMany(keys: K[]): Promise<Map<K, V>> {
    if (keys.length === 0) return Promise.resolve(new Map());
    return this.gc.enqueue(keys);
  }

  async get(key: K): Promise<V | undefined> {
    return (await this.getMany([key])).get(key);
  }
}

/**
 * A GroupCommit over a batched call, with the unary call as its fallback for a peer that does not have the
 * batched one yet (UNIMPLEMENTED: an older version mid rolling upgrade). `batched` may answer an error per
 * request (in order; undefined = done); a throw fails the whole batch.
 */
export function batchedWithFallback<Req>(
  batched: (reqs: Req[]) => Promise<ReadonlyArray<Error | undefined> | void>,
  single: (req: Req) => Promise<unknown>,
  o: GroupCommitOptions<Req> = {},
): GroupCommit<Req, void> {
  return new GroupCommit<Req, void>(async (items) => {
    let errs: ReadonlyArray<Error | undefined> | void;
    try {
      errs = await batched(items.map((i) => i.req));
    } catch (err) {
      if (!isUnimplemented(err)) throw err;
      await Promise.all(items.map((it) => single(it.req).then(() => it.resolve(), it.reject)));
      return;
    }
    items.forEach((it, i) => {
      const e = errs?.[i];
      if (e) it.reject(e);
      else it.resolve();
    });
  }, o);
}
