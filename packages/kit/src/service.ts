// The shape every service has: create → start → destroy, and the wiring main.ts does around it.
import type { Logger } from 'pino';
import { onShutdown } from './shutdown.js';

export interface Service {
  start(): Promise<void>;
  /** Idempotent: stop accepting, drain, close clients. */
  destroy(): Promise<void>;
}

/** Starts a service and stops it gracefully on SIGTERM/SIGINT. Exits 1 if it cannot start. */
export async function runService(opts: { name: string; logger: Logger; create: () => Promise<Service>; shutdownTimeoutMs?: number }): Promise<void> {
  let svc: Service | undefined;
  onShutdown(opts.logger, () => [{ name: `${opts.name}.destroy`, fn: () => svc?.destroy() }], { timeoutMs: opts.shutdownTimeoutMs ?? 25_000 });
  try {
    svc = await opts.create();
    await svc.start();
    opts.logger.info(`${opts.name} started`);
  } catch (err) {
    opts.logger.fatal({ err }, `${opts.name} failed to start`);
    await svc?.destroy().catch(() => {});
    process.exit(1);
  }
}

/** Makes `destroy` idempotent: the first call runs, later calls share its promise. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}
