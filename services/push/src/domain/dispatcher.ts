// Per-provider delivery lanes: each provider has its own queue and concurrency, so a slow or failing provider
// never takes the capacity of the others. Retries (429, 5xx, network) back off exponentially with full jitter
// and never come sooner than the provider's Retry-After; a retry waits outside the concurrency slots. A dead
// token deletes the registration; an invalid credential disables the provider (loudly) until restart.
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
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  logger: Logger;
  metrics: DispatchMetrics;
  /** Deletes a registration whose token the provider declared dead (only if it still holds that token). */
  onDeadToken(reg: Registration, reason: string): Promise<void>;
  random?: () => number;
}

/** The final word on one notification. */
export type DispatchResult = 'sent' | 'dead' | 'failed' | 'disabled' | 'unconfigured';

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

  dispatch(reg: Registration, n: Notification): Promise<DispatchResult> {
    const lane = this.lanes.get(reg.platform);
    if (!lane) {
      this.opts.metrics.failed(reg.platform, 'unconfigured');
      return Promise.resolve('unconfigured');
    }
    if (lane.disabled) {
      this.opts.metrics.failed(reg.platform, 'provider_disabled');
      return Promise.resolve('disabled');
    }
    return new Promise((done) => {
      lane.queue.push({ reg, n, attempt: 1, done });
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
    this.opts.metrics.enabled(lane.provider.name, false);
    this.opts.logger.error(
      { provider: lane.provider.name, reason },
      `push provider ${lane.provider.name} DISABLED: its credentials were refused; fix them and restart the push service`,
    );
    for (const job of lane.queue.splice(0)) {
      this.opts.metrics.failed(lane.provider.name, 'provider_disabled');
      job.done('disabled');
    }
  }

  /** Stops timers; jobs not settled stay unsettled (their events are redelivered to the next owner). */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
