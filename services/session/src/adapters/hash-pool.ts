// Password hashing off the event loop, in a bounded pool of worker threads with an admission queue
// that fits the caller's deadline: a job is queued only if its estimated completion (jobs ahead ÷ workers
// × the measured time of one hash) is within `maxWaitMs`; beyond that it is refused at once with
// `rate_limited` and a jittered `retryAfterMs`, so a login burst is slower but never a timeout.
import { Worker } from 'node:worker_threads';
import { errors, type Logger } from '@parley/kit';
import type { PasswordHasher, ScryptParams } from '../domain/passwords.js';

// The worker is plain CommonJS evaluated from this string, so the same code runs from dist/ and under
// jest (which loads the TypeScript sources). Same format as passwords.ts.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { randomBytes, scryptSync, timingSafeEqual } = require('node:crypto');
const maxmem = (N, r) => 256 * N * r + 1024 * 1024;
parentPort.on('message', (job) => {
  try {
    if (job.op === 'hash') {
      const { N, r, p } = job.params;
      const salt = randomBytes(16);
      const key = scryptSync(job.password, salt, 64, { N, r, p, maxmem: maxmem(N, r) });
      parentPort.postMessage({ id: job.id, value: 'scrypt$' + N + '$' + r + '$' + p + '$' + salt.toString('base64') + '$' + key.toString('base64') });
    } else {
      const parts = job.stored.split('$');
      if (parts.length !== 6 || parts[0] !== 'scrypt') return parentPort.postMessage({ id: job.id, value: false });
      const N = Number(parts[1]), r = Number(parts[2]), p = Number(parts[3]);
      const expected = Buffer.from(parts[5], 'base64');
      const got = scryptSync(job.password, Buffer.from(parts[4], 'base64'), 64, { N, r, p, maxmem: maxmem(N, r) });
      parentPort.postMessage({ id: job.id, value: got.length === expected.length && timingSafeEqual(got, expected) });
    }
  } catch (err) {
    parentPort.postMessage({ id: job.id, error: String(err && err.message || err) });
  }
});
`;

type Job = { id: number; op: 'hash'; password: string; params: ScryptParams } | { id: number; op: 'verify'; password: string; stored: string };
interface Pending {
  job: Job;
  resolve: (v: string | boolean) => void;
  reject: (e: Error) => void;
}
interface Slot {
  worker: Worker;
  busy?: Pending & { startedAt: number };
}

export interface HashPoolOptions {
  params: ScryptParams;
  /** Worker threads (each runs one hash at a time). */
  workers: number;
  /** Longest a job may be expected to wait + run before it is refused. */
  maxWaitMs: number;
  logger: Logger;
  /** Outcome of every submission: ran | refused. */
  observe?: (o: 'ran' | 'refused', ms?: number) => void;
}

export class HashPool implements PasswordHasher {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  /** Moving average of one job's run time (ms), seeded from the cost and corrected by every job. */
  private avgMs: number;

  constructor(private readonly opts: HashPoolOptions) {
    // ~50 ms per N·p·r = 2^14·1·8 on the 2-core dev box; only a seed, the average adapts within a few jobs.
    this.avgMs = Math.max(1, (50 * opts.params.N * opts.params.p * opts.params.r) / (16384 * 8));
    for (let i = 0; i < opts.workers; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    const slot: Slot = { worker };
    worker.on('message', (m: { id: number; value?: string | boolean; error?: string }) => {
      const b = slot.busy;
      if (!b || b.job.id !== m.id) return;
      slot.busy = undefined;
      const ms = Date.now() - b.startedAt;
      this.avgMs = this.avgMs * 0.8 + ms * 0.2;
      this.opts.observe?.('ran', ms);
      if (m.error !== undefined) b.reject(new Error(`password hashing failed: ${m.error}`));
      else b.resolve(m.value!);
      this.pump();
    });
    worker.on('error', (err) => this.opts.logger.error({ err }, 'password hashing worker failed'));
    worker.on('exit', () => {
      if (this.closed) return;
      // A dead worker fails its job and is replaced.
      const i = this.slots.indexOf(slot);
      slot.busy?.reject(new Error('password hashing worker exited'));
      if (i >= 0) this.slots[i] = this.spawn();
      this.pump();
    });
    return slot;
  }

  /** Runs one hash per worker so that the first estimates are measured, not guessed. */
  async calibrate(): Promise<void> {
    const t0 = Date.now();
    await Promise.all(this.slots.map(() => this.hash('calibration-only')));
    this.opts.logger.info({ ms: Date.now() - t0, avgMs: Math.round(this.avgMs), workers: this.slots.length, ...this.opts.params }, 'password hashing calibrated');
  }

  /** Estimated time until a job submitted now would be done. */
  estimateMs(): number {
    const busy = this.slots.filter((s) => s.busy).length;
    return (Math.floor((this.queue.length + busy) / this.slots.length) + 1) * this.avgMs;
  }

  get queued(): number {
    return this.queue.length;
  }

  private submit<T extends string | boolean>(job: Job): Promise<T> {
    if (this.closed) return Promise.reject(errors.unavailable('shutting down'));
    const est = this.estimateMs();
    // An idle worker always takes the job: otherwise a slow machine (one hash longer than maxWaitMs) would
    // refuse everything forever, and the measured average could never come down.
    const idle = this.queue.length === 0 && this.slots.some((s) => !s.busy);
    if (!idle && est > this.opts.maxWaitMs) {
      this.opts.observe?.('refused');
      // When enough of the queue ahead will have drained, jittered so that refused callers spread out.
      const wait = Math.max(200, est - this.opts.maxWaitMs + this.avgMs);
      throw errors.rateLimited(Math.round(wait * (0.75 + Math.random() * 0.75)), 'too many logins and sign-ups right now; retry later');
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ job, resolve: resolve as (v: string | boolean) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.busy) continue;
      const next = this.queue.shift();
      if (!next) return;
      slot.busy = { ...next, startedAt: Date.now() };
      slot.worker.postMessage(next.job);
    }
  }

  async hash(password: string): Promise<string> {
    return this.submit<string>({ id: this.nextId++, op: 'hash', password, params: this.opts.params });
  }

  async verify(password: string, stored: string): Promise<boolean> {
    return this.submit<boolean>({ id: this.nextId++, op: 'verify', password, stored });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(errors.unavailable('shutting down'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
