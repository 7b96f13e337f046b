// Per-provider delivery lanes: each provider has its own queue and concurrency, so a slow or failing provider
// never takes the capacity of the others. Retries (429, 5xx, network) back off exponentially with full jitter
// and never come sooner than the provider's Retry-After. With `defer` (the service: push.retry.v1) a retry is
// handed over durably and the notification is settled as 'deferred' at once, so a wait outlives a crash and
// holds neither a concurrency slot nor a Kafka offset; without it, or if handing over fails, the retry waits
// in memory (its request stays uncommitted). A dead token deletes the registration; an invalid credential
// disables the provider (loudly), which is then re-probed with exponential backoff and re-enabled when its
// credentials work again.
import type { Logger } from '@parley/kit';
import type { Notification, PlatformName, Provider, Registration, SendOutcome } from './types.js';

export interface DispatchMetrics {
  sent(provider: PlatformName, seconds: number): void;
  failed(provider: PlatformName, reason: string): void;
  retried(provider: PlatformName, reason: string): void;
  invalidated(provider: PlatformName): void;
  enabled(provider: PlatformName, on: boolean): void;
}

export interface DispatcherOptions {
  concurrency: number;
  /**
   * Jobs a lane queues beyond its running ones before new work from the request path is deferred (with
   * `defer`) instead of held: a slow provider's backlog waits in push.retry.v1, not in the request consumer's
   * in-flight budget, which every provider shares. Unlimited without `defer`.
   */
  queueLimit?: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  logger: Logger;
  metrics: DispatchMetrics;
  /** Deletes a registration whose token the provider declared dead (only if it still holds that token). */
  onDeadToken(reg: Registration, reason: string): Promise<void>;
  /** Stores a retry durably (resolves once stored); it comes back through dispatch(reg, n, attempt). */
  defer?(r: DeferredRetry): Promise<void>;
  /** First re-probe of a provider disabled by its credentials; doubles per failed probe up to reprobeMaxMs. */
  reprobeBaseMs?: number;
  reprobeMaxMs?: number;
  random?: () => number;
}

export interface DeferredRetry {
  reg: Registration;
  n: Notification;
  /** The attempt to make next (2 = the first retry). */
  attempt: number;
  /** Unix ms. */
  notBefore: number;
  reason: string;
}

/** The final word on one notification ('deferred': handed to the durable retry store). */
export type DispatchResult = 'sent' | 'dead' | 'failed' | 'disabled' | 'unconfigured' | 'deferred';

interface Job {
  reg: Registration;
  n: Notification;
  attempt: number;
  done: (r: DispatchResult) => void;
}

class Lane {
  readonly queue: Job[] = [];
  running = 0;
  disabled?: string;
  /** Credential failures in a row (probes included): the re-probe backoff level. */
  credentialFailures = 0;
  probeTimer?: ReturnType<typeof setTimeout>;
  constructor(readonly provider: Provider) {}
}

export function backoffMs(attempt: number, baseMs: number, maxMs: number, retryAfterMs: number | undefined, random: () => number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = cap / 2 + random() * (cap / 2);
  return Math.max(jittered, Math.min(retryAfterMs ?? 0, maxMs * 10));
}

export class Dispatcher {
  private readonly lanes = new Map<PlatformName, Lane>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly random: () => number;
  private closed = false;

  constructor(
    providers: readonly Provider[],
    private readonly opts: DispatcherOptions,
  ) {
    this.random = opts.random ?? Math.random;
    for (const p of providers) {
      this.lanes.set(p.name, new Lane(p));
      opts.metrics.enabled(p.name, true);
    }
  }

  enabledProviders(): PlatformName[] {
    return [...this.lanes.values()].filter((l) => !l.disabled).map((l) => l.provider.name);
  }

  queued(name: PlatformName): number {
    const l = this.lanes.get(name);
    return l ? l.queue.length + l.running : 0;
  }

  /**
   * `overflow`: what to do when the lane's queue is full ('defer': hand the job to `defer` unchanged, a short
   * while later; 'wait': queue it anyway, as the retry path does, so a deferred job is not deferred forever).
   */
  dispatch(reg: Registration, n: Notification, attempt = 1, overflow: 'defer' | 'wait' = 'defer'): Promise<DispatchResult> {
    const lane = this.lanes.get(reg.platform);
    if (!lane) {
      this.opts.metrics.failed(reg.platform, 'unconfigured');
      return Promise.resolve('unconfigured');
    }
    if (lane.disabled) {
      this.opts.metrics.failed(reg.platform, 'provider_disabled');
      return Promise.resolve('disabled');
    }
    const limit = this.opts.queueLimit;
    if (overflow === 'defer' && this.opts.defer && limit !== undefined && lane.queue.length >= limit) {
      this.opts.metrics.retried(reg.platform, 'queue_full');
      const notBefore = Date.now() + Math.round(this.opts.retryBaseMs * (1 + this.random()));
      return this.opts.defer({ reg, n, attempt, notBefore, reason: 'queue_full' }).then(
        () => 'deferred' as const,
        () => this.enqueue(lane, reg, n, attempt),
      );
    }
    return this.enqueue(lane, reg, n, attempt);
  }

  private enqueue(lane: Lane, reg: Registration, n: Notification, attempt: number): Promise<DispatchResult> {
    return new Promise((done) => {
      lane.queue.push({ reg, n, attempt, done });
      this.pump(lane);
    });
  }

  private pump(lane: Lane): void {
    while (!this.closed && lane.running < this.opts.concurrency && lane.queue.length > 0) {
      const job = lane.queue.shift()!;
      if (lane.disabled) {
        this.opts.metrics.failed(lane.provider.name, 'provider_disabled');
        job.done('disabled');
        continue;
      }
      lane.running += 1;
      void this.run(lane, job).finally(() => {
        lane.running -= 1;
        this.pump(lane);
      });
    }
  }

  private async run(lane: Lane, job: Job): Promise<void> {
    const name = lane.provider.name;
    const t0 = performance.now();
    let out: SendOutcome;
    try {
      out = await lane.provider.send(job.reg, job.n);
    } catch (err) {
      out = { kind: 'retry', reason: 'error' };
      this.opts.logger.warn({ err: (err as Error).message, provider: name }, 'push send threw');
    }
    switch (out.kind) {
      case 'sent':
        lane.credentialFailures = 0;
        this.opts.metrics.sent(name, (performance.now() - t0) / 1000);
        job.done('sent');
        return;
      case 'dead':
        this.opts.metrics.invalidated(name);
        this.opts.logger.info({ provider: name, deviceId: job.reg.deviceId, reason: out.reason }, 'push token is dead; registration deleted');
        await this.opts.onDeadToken(job.reg, out.reason).catch((err: unknown) =>
          this.opts.logger.warn({ err: (err as Error).message }, 'deleting a dead registration failed'),
        );
        job.done('dead');
        return;
      case 'credentials':
        this.disable(lane, out.reason);
        this.opts.metrics.failed(name, 'credentials');
        job.done('disabled');
        return;
      case 'rejected':
        this.opts.metrics.failed(name, out.reason);
        this.opts.logger.warn({ provider: name, deviceId: job.reg.deviceId, reason: out.reason }, 'push rejected by provider');
        job.done('failed');
        return;
      case 'retry': {
        if (job.attempt >= this.opts.maxAttempts) {
          this.opts.metrics.failed(name, 'retries_exhausted');
          this.opts.logger.warn({ provider: name, deviceId: job.reg.deviceId, reason: out.reason, attempts: job.attempt }, 'push gave up');
          job.done('failed');
          return;
        }
        this.opts.metrics.retried(name, out.reason);
        const delay = backoffMs(job.attempt, this.opts.retryBaseMs, this.opts.retryMaxMs, out.retryAfterMs, this.random);
        if (this.opts.defer) {
          try {
            await this.opts.defer({ reg: job.reg, n: job.n, attempt: job.attempt + 1, notBefore: Math.ceil(Date.now() + delay), reason: out.reason });
            job.done('deferred');
            return;
          } catch (err) {
            this.opts.logger.warn({ err: (err as Error).message, provider: name }, 'storing a push retry failed; retrying in memory');
          }
        }
        const t = setTimeout(() => {
          this.timers.delete(t);
          if (this.closed) return;
          lane.queue.push({ ...job, attempt: job.attempt + 1 });
          this.pump(lane);
        }, delay);
        this.timers.add(t);
        return;
      }
    }
  }

  private disable(lane: Lane, reason: string): void {
    if (lane.disabled) return;
    lane.disabled = reason;
    lane.credentialFailures += 1;
    this.opts.metrics.enabled(lane.provider.name, false);
    const inMs = this.scheduleProbe(lane);
    this.opts.logger.error(
      { provider: lane.provider.name, reason, reprobeInMs: inMs },
      `push provider ${lane.provider.name} DISABLED: its credentials were refused; re-probing in ${Math.round(inMs / 1000)} s (fix the credentials; a restart is not needed if they start working)`,
    );
    for (const job of lane.queue.splice(0)) {
      this.opts.metrics.failed(lane.provider.name, 'provider_disabled');
      job.done('disabled');
    }
  }

  /** Re-probe backoff: base × 2^(failures-1), capped, with ±25 % jitter. */
  private scheduleProbe(lane: Lane): number {
    const base = this.opts.reprobeBaseMs ?? 30_000;
    const max = this.opts.reprobeMaxMs ?? 15 * 60_000;
    const cap = Math.min(max, base * 2 ** Math.max(0, lane.credentialFailures - 1));
    const delay = Math.round(cap * (0.75 + this.random() * 0.5));
    if (lane.probeTimer) clearTimeout(lane.probeTimer);
    lane.probeTimer = setTimeout(() => {
      lane.probeTimer = undefined;
      void this.probe(lane);
    }, delay);
    lane.probeTimer.unref?.();
    return delay;
  }

  private async probe(lane: Lane): Promise<void> {
    if (this.closed || !lane.disabled) return;
    const name = lane.provider.name;
    if (!lane.provider.probe) {
      // No side-effect-free check: half-open, the next real send decides (credentials again → disabled again,
      // with a longer backoff).
      this.enable(lane, 'half-open: the next send is the probe');
      return;
    }
    let r;
    try {
      r = await lane.provider.probe();
    } catch (err) {
      r = { kind: 'unavailable' as const, reason: (err as Error).message };
    }
    if (this.closed) return;
    if (r.kind === 'ok') {
      this.enable(lane, 'credential probe succeeded');
      return;
    }
    lane.credentialFailures += 1; // an inconclusive probe backs off too
    const inMs = this.scheduleProbe(lane);
    this.opts.logger.error(
      { provider: name, reason: r.reason, probe: r.kind, reprobeInMs: inMs },
      `push provider ${name} still DISABLED (${r.kind === 'credentials' ? 'credentials refused' : 'probe inconclusive'}); next probe in ${Math.round(inMs / 1000)} s`,
    );
  }

  private enable(lane: Lane, why: string): void {
    lane.disabled = undefined;
    this.opts.metrics.enabled(lane.provider.name, true);
    this.opts.logger.warn({ provider: lane.provider.name, why }, `push provider ${lane.provider.name} re-enabled`);
    this.pump(lane);
  }

  /** Stops timers; jobs not settled stay unsettled (their events are redelivered to the next owner). */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const l of this.lanes.values()) if (l.probeTimer) clearTimeout(l.probeTimer);
  }
}
