// Load shedding by admission: at most `max` calls of a kind in flight; beyond that a call is refused at
// once with `unavailable` (+ retryAfterMs, jittered) instead of joining a queue that only grows. Under
// overload this keeps the accepted calls fast and the throughput at capacity (no congestion collapse).
import { ParleyError } from './errors.js';

export interface Admission {
  /** Runs `fn` if a slot is free; otherwise throws `unavailable` without calling it. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * The refusal `run` would throw right now (counted as shed), or undefined if a slot is free. A pre-check
   * for work that comes before `run` and would be wasted on a refused call; it reserves nothing.
   */
  refusal(): ParleyError | undefined;
  readonly inFlight: number;
  readonly shed: number;
}

export function createAdmission(opts: { name: string; max: number; retryAfterMs?: number; random?: () => number }): Admission {
  const base = opts.retryAfterMs ?? 500;
  const random = opts.random ?? Math.random;
  let inFlight = 0;
  let shed = 0;
  const refusal = (): ParleyError | undefined => {
    if (inFlight < opts.max) return undefined;
    shed += 1;
    // Jitter spreads the retries of many refused clients.
    return new ParleyError('unavailable', `${opts.name} is overloaded, retry`, { retryAfterMs: Math.round(base * (0.5 + random())) });
  };
  return {
    get inFlight() {
      return inFlight;
    },
    get shed() {
      return shed;
    },
    refusal,
    async run<T>(fn: () => Promise<T>): Promise<T> {
      const refused = refusal();
      if (refused) throw refused;
      inFlight += 1;
      try {
        return await fn();
      } finally {
        inFlight -= 1;
      }
    },
  };
}
