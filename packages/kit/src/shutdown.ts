// Graceful shutdown on SIGTERM/SIGINT: ordered steps, each bounded, then exit. Only main.ts calls this.
import type { Logger } from 'pino';

export interface ShutdownStep {
  name: string;
  fn: () => Promise<unknown> | unknown;
}

export function onShutdown(logger: Logger, steps: ShutdownStep[] | (() => ShutdownStep[]), opts: { timeoutMs?: number } = {}): void {
  let started = false;
  const run = async (signal: string) => {
    if (started) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    started = true;
    logger.info({ signal }, 'shutting down');
    const budget = opts.timeoutMs ?? 25_000;
    const deadline = Date.now() + budget;
    let failed = false;
    for (const step of typeof steps === 'function' ? steps() : steps) {
      const left = Math.max(100, deadline - Date.now());
      const t0 = Date.now();
      try {
        await Promise.race([
          Promise.resolve().then(step.fn),
          new Promise((_, fail) => setTimeout(() => fail(new Error(`timed out after ${left} ms`)), left).unref()),
        ]);
        logger.info({ step: step.name, ms: Date.now() - t0 }, 'shutdown step done');
      } catch (err) {
        failed = true;
        logger.error({ err, step: step.name }, 'shutdown step failed');
      }
    }
    logger.info({ failed }, 'bye');
    process.exit(failed ? 1 : 0);
  };
  process.on('SIGTERM', () => void run('SIGTERM'));
  process.on('SIGINT', () => void run('SIGINT'));
}
