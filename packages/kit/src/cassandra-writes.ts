// Cassandra writes of many concurrent writers, sharing requests (group commit across partitions).
import type cassandra from 'cassandra-driver';
import { QUORUM } from './cassandra.js';
import { isTransientCassandraError } from './cassandra-errors.js';

export interface CqlWrite {
  query: string;
  params: unknown[];
}

/**
 * Cassandra refuses a batch above `batch_size_fail_threshold` (50 KiB by default), and a 64 KiB ciphertext is
 * one row. So one request carries at most ~32 KiB of values (and `maxStatements` statements); a bigger row goes
 * alone as a plain statement.
 */
const REQUEST_BYTES = 32 * 1024;

export function chunkBySize<Q extends { params: unknown[] }>(queries: Q[], limit = REQUEST_BYTES, maxStatements = Infinity): Q[][] {
  const sizeOf = (q: Q) => q.params.reduce<number>((n, v) => n + (Buffer.isBuffer(v) ? v.length : typeof v === 'string' ? v.length : 8), 0);
  const out: Q[][] = [];
  let cur: Q[] = [];
  let bytes = 0;
  for (const q of queries) {
    const n = sizeOf(q);
    if (cur.length > 0 && (bytes + n > limit || cur.length >= maxStatements)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(q);
    bytes += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** One request per chunk: a lone statement as itself, several as an unlogged batch. */
export async function executeChunks(client: cassandra.Client, queries: CqlWrite[], maxStatements = Infinity, options: cassandra.QueryOptions = QUORUM): Promise<void> {
  await Promise.all(
    chunkBySize(queries, REQUEST_BYTES, maxStatements).map((q) => (q.length === 1 ? client.execute(q[0]!.query, q[0]!.params, options) : client.batch(q, { ...options, logged: false }))),
  );
}

interface Waiting {
  queries: CqlWrite[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for idempotent writes (upserts, `USING TIMESTAMP`, set additions/removals) of many writers: at
 * most `maxInFlight` requests are outstanding; whatever arrives meanwhile leaves together, as unlogged batches
 * of up to `maxStatements` statements. Under light load a write goes out at once, alone; under heavy load
 * hundreds of sends' writes share a few requests, which is what Cassandra's CPU and the driver's per-request
 * cost follow. Each caller settles when the requests carrying its statements have; if a shared request is
 * refused (not a timeout or an unavailable store), each of its writers is retried alone, so one bad statement
 * fails only its own writer. No atomicity is added
 * or removed: an unlogged batch across partitions is applied per partition, as separate requests would be.
 */
export class WriteCombiner {
  private waiting: Waiting[] = [];
  private inFlight = 0;

  constructor(
    private readonly client: cassandra.Client,
    private readonly opts: {
      /** Requests outstanding at once (default 4: 2, 4 and 8 measured, bench/README.md "Third pass"). */
      maxInFlight?: number;
      maxStatements?: number;
      /** Consistency and preparation of every request (default LOCAL_QUORUM, prepared). */
      options?: cassandra.QueryOptions;
      onFlush?: (writers: number, statements: number) => void;
    } = {},
  ) {}

  write(queries: CqlWrite[]): Promise<void> {
    if (queries.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ queries, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    const max = this.opts.maxInFlight ?? 4;
    while (this.inFlight < max && this.waiting.length > 0) {
      const take = this.waiting;
      this.waiting = [];
      this.inFlight++;
      void this.flush(take).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async flush(take: Waiting[]): Promise<void> {
    const maxStatements = this.opts.maxStatements ?? 64;
    const all = take.flatMap((w) => w.queries);
    this.opts.onFlush?.(take.length, all.length);
    try {
      await executeChunks(this.client, all, maxStatements, this.opts.options);
      for (const w of take) w.resolve();
    } catch (err) {
      // A store that is timing out or unavailable fails every writer alike: retrying each alone would only add
      // requests to a store that is already behind.
      if (take.length === 1 || isTransientCassandraError(err)) {
        for (const w of take) w.reject(err);
        return;
      }
      // A statement was refused, and whose is not known: each writer alone (the writes are idempotent).
      await Promise.all(
        take.map((w) =>
          executeChunks(this.client, w.queries, maxStatements, this.opts.options).then(
            () => w.resolve(),
            (e: unknown) => w.reject(e),
          ),
        ),
      );
    }
  }
}
