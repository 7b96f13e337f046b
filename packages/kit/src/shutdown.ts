// Graceful shutdown on SIGTERM/SIGINT: ordered steps, each bounded by what is left of one overall budget,
// then exit (0, or 1 if a step failed or timed out). A second signal exits at once. Only main.ts calls this.
import type { Logger } from 'pino';

export interface ShutdownStep {
  name: string;
  fn: () => Promise<unknown> | unknown;
}

export interface ShutdownOptions {
  /** Budget for all steps together (default 25 000 ms: inside Kubernetes' default 30 s grace period). */
  timeoutMs?: number;
  /** For tests; default process.exit. */
  exit?: (code: number) => void;
  /** For tests; default ['SIGTERM', 'SIGINT']. */
  signals?: NodeJS.Signals[];
}

export interface ShutdownHandle {
  /** Runs the shutdown as if `signal` had arrived (idempotent: a second call exits at once with 1). */
  trigger(signal?: string): Promise<void>;
  /** Removes the signal handlers. */
  dispose(): void;
}

export function onShutdown(logger: Logger, steps: ShutdownStep[] | (() => ShutdownStep[]), opts: ShutdownOptions = {}): ShutdownHandle {
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT'];
  let started = false;
  const run = async (signal: string) => {
    if (started) {
      logger.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    started = true;
    logger.info({ signal }, 'shutting down');
    const budget = opts.timeoutMs ?? 25_000;
    const deadline = Date.now() + budget;
    let failed = false;
    for (const step of typeof steps === 'function' ? steps() : steps) {
      const left = Math.max(100, deadline - Date.now());
      const t0 = Date.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(step.fn),
          new Promise((_, fail) => {
            timer = setTimeout(() => fail(new Error(`timed out after ${left} ms`)), left);
            timer.unref();
          }),
        ]);
        logger.info({ step: step.name, ms: Date.now() - t0 }, 'shutdown step done');
      } catch (err) {
        failed = true;
        logger.error({ err, step: step.name }, 'shutdown step failed');
      } finally {
        if (timer) clearTimeout(timer);
      }
    }
    logger.info({ failed }, 'bye');
    exit(failed ? 1 : 0);
  };
  const handler = (signal: NodeJS.Signals) => void run(signal);
  for (const s of signals) process.on(s, handler);
  return {
    trigger: (signal = 'manual') => run(signal),
    dispose: () => {
      for (const s of signals) process.removeListener(s, handler);
    },
  };
}
