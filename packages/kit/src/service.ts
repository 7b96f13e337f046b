// The one lifecycle every service has: create (with adapter overrides) → start → stop, readiness, the ops
// server, and main.ts's signal handling. A service's wiring.ts lists its start steps and its stop steps in the
// order they run; `Lifecycle` runs them, and `runService` / `runMain` are all its main.ts does.
//
//   create   builds adapters (each replaceable by an override), domain objects and the api; touches no port.
//   start    runs the start steps in order; the first that fails rejects (main.ts then stops and exits 1).
//   stop     (= destroy, idempotent) drains readiness, then runs every stop step in order, each logged; a
//            failed step does not skip the ones after it, and stop rejects at the end if any failed (exit 1).
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { GrpcServer } from './grpc/server.js';
import { createLogger } from './logger.js';
import { readinessMonitor, startOpsServer, type Check, type OpsServer, type ReadinessMonitor } from './ops.js';
import { onShutdown } from './shutdown.js';

export interface Service {
  start(): Promise<void>;
  /** Idempotent: stop accepting, drain, close clients. */
  destroy(): Promise<void>;
}

export interface LifecycleStep {
  name: string;
  run: () => Promise<unknown> | unknown;
}

export interface LifecycleOptions {
  name: string;
  logger: Logger;
  /** What /readyz and gRPC health answer: the service's own stores (not the services it calls). */
  checks: Record<string, Check>;
  /** The service's gRPC server, if it has one: readiness is mirrored into its grpc.health.v1. */
  grpc?: GrpcServer;
}

/**
 * Runs a service's steps. Built in the service's `create`; its steps are added there too (they may refer to
 * ports and handles that exist only once earlier steps ran: steps are functions, run in order).
 */
export class Lifecycle implements Service {
  grpcPort = 0;
  httpPort = 0;
  private readonly startSteps: LifecycleStep[] = [];
  private readonly stopSteps: LifecycleStep[] = [];
  private monitor: ReadinessMonitor | undefined;
  private ops: OpsServer | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: LifecycleOptions) {}

  /** The readiness monitor (made by the first start step that needs it, or by `readiness()`). */
  readiness(): ReadinessMonitor {
    const grpc = this.opts.grpc;
    this.monitor ??= readinessMonitor({
      logger: this.opts.logger,
      checks: this.opts.checks,
      ...(grpc ? { onChange: (ready: boolean) => grpc.health.set('', ready ? 'SERVING' : 'NOT_SERVING') } : {}),
    });
    return this.monitor;
  }

  /** True once stop began (background loops check it). */
  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  onStart(name: string, run: LifecycleStep['run']): this {
    this.startSteps.push({ name, run });
    return this;
  }

  onStop(name: string, run: LifecycleStep['run']): this {
    this.stopSteps.push({ name, run });
    return this;
  }

  /** Start step: the readiness monitor begins checking. */
  startReadiness(): this {
    return this.onStart('readiness', () => void this.readiness());
  }

  /** Start step: the gRPC server listens (its port in `grpcPort`). */
  listenGrpc(host: string, port: number): this {
    const grpc = this.opts.grpc;
    if (!grpc) throw new Error(`${this.opts.name}: listenGrpc needs the grpc server in LifecycleOptions`);
    return this.onStart('grpc', async () => {
      this.grpcPort = await grpc.listen(host, port);
    });
  }

  /** Start step: /healthz /readyz /metrics on `port` (its port in `httpPort`); closed by the `ops` stop step. */
  serveOps(host: string, port: number, registry: Registry): this {
    return this.onStart('ops', async () => {
      this.ops = await startOpsServer({ host, port, logger: this.opts.logger, registry, readiness: this.readiness() });
      this.httpPort = this.ops.port;
    });
  }

  /** Stop step: the gRPC server stops taking calls and finishes those in flight (10 s at most). */
  stopGrpc(): this {
    return this.onStop('grpc', () => this.opts.grpc?.shutdown(10_000));
  }

  /** Stop step: the ops server closes (/healthz and /readyz answer 503 until then). */
  stopOps(): this {
    return this.onStop('ops', () => this.ops?.close());
  }

  async start(): Promise<void> {
    for (const step of this.startSteps) {
      if (this.stopping) return;
      await step.run();
    }
    // The first answer to health checks is the real one, not the monitor's first tick.
    if (this.monitor) {
      const state = await this.monitor.refresh();
      this.opts.grpc?.health.set('', state.ready ? 'SERVING' : 'NOT_SERVING');
    }
  }

  /** Idempotent; later calls share the first one's promise. */
  readonly destroy = (): Promise<void> => (this.stopping ??= this.stop());

  private async stop(): Promise<void> {
    this.monitor?.drain();
    this.monitor?.stop();
    const failed: string[] = [];
    for (const step of this.stopSteps) {
      try {
        await step.run();
      } catch (err) {
        failed.push(step.name);
        this.opts.logger.warn({ err, step: step.name }, 'shutdown step failed');
      }
    }
    if (failed.length) throw new Error(`${this.opts.name}: shutdown steps failed: ${failed.join(', ')}`);
  }
}

/** The base of every service class: the ports, start and destroy are its Lifecycle's. */
export abstract class LifecycleService implements Service {
  abstract readonly life: Lifecycle;

  /** The bound gRPC port (0 before start, or without a gRPC server). */
  get grpcPort(): number {
    return this.life.grpcPort;
  }

  /** The bound ops HTTP port (0 before start, or when the service serves ops itself). */
  get httpPort(): number {
    return this.life.httpPort;
  }

  start(): Promise<void> {
    return this.life.start();
  }

  destroy(): Promise<void> {
    return this.life.destroy();
  }
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

/** A one-shot command of a service's main.ts (`node dist/main.js <name> [args]`): resolves to the exit code. */
export type MainCommand = (args: string[]) => Promise<number | void>;

/**
 * What every main.ts does: `node dist/main.js` runs the service until SIGTERM (runService); `node dist/main.js
 * <command> [args]` runs one of `commands` (migrate, topics, ...) and exits with its code (0 when it returns
 * nothing, 1 when it throws).
 */
export async function runMain(opts: {
  name: string;
  logger: Logger;
  create: () => Promise<Service>;
  commands?: Record<string, MainCommand>;
  shutdownTimeoutMs?: number;
  argv?: string[];
}): Promise<void> {
  const [cmd, ...args] = opts.argv ?? process.argv.slice(2);
  const command = cmd !== undefined ? opts.commands?.[cmd] : undefined;
  if (!command) {
    await runService(opts);
    return;
  }
  try {
    process.exit((await command(args)) ?? 0);
  } catch (err) {
    opts.logger.fatal({ err }, `${cmd} failed`);
    process.exit(1);
  }
}

/** What a service's wiring.ts exports for main.ts: its class, made by `create`; `migrate` if it owns tables. */
export type ServiceFactory<C> =
  | { create(cfg: C, deps: { logger: Logger; migrationsDir: string }): Promise<Service>; migrate(cfg: C, migrationsDir: string, logger: Logger): Promise<unknown> }
  | { create(cfg: C, deps: { logger: Logger }): Promise<Service> };

/**
 * A service's whole main.ts: parses its config from process.env, makes its logger, and runs it (runMain):
 *   node dist/main.js            the service, until SIGTERM
 *   node dist/main.js migrate    with `migrations`: apply them (service.migrate) and exit
 *   node dist/main.js <command>  one of `commands` (topics, dlq-replay, ...) and exit
 */
export async function serviceMain<C extends { logLevel: string }>(opts: {
  name: string;
  config: { parse(env: NodeJS.ProcessEnv): C };
  service: ServiceFactory<NoInfer<C>>;
  /** The CQL migrations folder as main.ts sees it: `new URL('../migrations', import.meta.url)`. */
  migrations?: URL;
  commands?: (cfg: NoInfer<C>, logger: Logger) => Record<string, MainCommand>;
  shutdownTimeoutMs?: number;
}): Promise<void> {
  const cfg = opts.config.parse(process.env);
  const logger = createLogger(opts.name, cfg.logLevel);
  const commands: Record<string, MainCommand> = { ...opts.commands?.(cfg, logger) };
  const { service } = opts;
  let create: () => Promise<Service>;
  if ('migrate' in service) {
    if (!opts.migrations) throw new Error(`${opts.name}: serviceMain needs the migrations folder of a service that migrates`);
    const migrationsDir = fileURLToPath(opts.migrations);
    create = () => service.create(cfg, { migrationsDir, logger });
    commands.migrate = async () => {
      const applied = await service.migrate(cfg, migrationsDir, logger);
      if (Array.isArray(applied)) logger.info({ applied }, 'migrations done');
    };
  } else {
    create = () => service.create(cfg, { logger });
  }
  await runMain({ name: opts.name, logger, create, commands, ...(opts.shutdownTimeoutMs !== undefined ? { shutdownTimeoutMs: opts.shutdownTimeoutMs } : {}) });
}

/** Makes `destroy` idempotent: the first call runs, later calls share its promise. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}
