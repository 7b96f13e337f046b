// The ops HTTP endpoints every service serves: /healthz (alive), /readyz (its stores answer), /metrics.
// A readiness monitor re-checks the stores every few seconds and mirrors the result into gRPC health,
// so a store that goes away makes the service not-ready and its return makes it ready, with no restart.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { kitRegistry } from './metrics.js';
import type { GrpcServer } from './grpc/server.js';

export type Check = () => Promise<unknown>;

export interface ReadinessState {
  ready: boolean;
  checks: Record<string, { ok: boolean; error?: string; ms: number }>;
  at: number;
}

export interface ReadinessMonitor {
  state(): ReadinessState;
  /** Runs every check now. */
  refresh(): Promise<ReadinessState>;
  /** Forces not-ready (shutdown). */
  drain(): void;
  stop(): void;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, fail) => {
        t = setTimeout(() => fail(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    if (t) clearTimeout(t);
  }
}

export interface ReadinessOptions {
  checks: Record<string, Check>;
  logger: Logger;
  /** Re-check period (default 2000 ms). */
  intervalMs?: number;
  /** Per-check timeout (default 1000 ms). */
  timeoutMs?: number;
  onChange?: (ready: boolean) => void;
  /** Mirror readiness into this server's grpc.health.v1 (`''` and every service). */
  grpc?: Pick<GrpcServer, 'health'>;
}

export function readinessMonitor(opts: ReadinessOptions): ReadinessMonitor {
  const log = opts.logger.child({ subsystem: 'readiness' });
  const changed = (ready: boolean) => {
    opts.grpc?.health.set('', ready ? 'SERVING' : 'NOT_SERVING');
    opts.onChange?.(ready);
  };
  let draining = false;
  let current: ReadinessState = { ready: false, checks: {}, at: 0 };
  let running: Promise<ReadinessState> | undefined;
  const refresh = (): Promise<ReadinessState> => {
    running ??= (async () => {
      const entries = await Promise.all(
        Object.entries(opts.checks).map(async ([name, check]) => {
          const t0 = Date.now();
          try {
            await withTimeout(check(), opts.timeoutMs ?? 1000);
            return [name, { ok: true, ms: Date.now() - t0 }] as const;
          } catch (err) {
            return [name, { ok: false, error: err instanceof Error ? err.message : String(err), ms: Date.now() - t0 }] as const;
          }
        }),
      );
      const checks = Object.fromEntries(entries);
      const ready = !draining && entries.every(([, r]) => r.ok);
      if (ready !== current.ready) {
        if (ready) log.info({ checks }, 'ready');
        else log.warn({ checks }, 'not ready');
        changed(ready);
      }
      current = { ready, checks, at: Date.now() };
      running = undefined;
      return current;
    })();
    return running;
  };
  const timer = setInterval(() => void refresh(), opts.intervalMs ?? 2000);
  timer.unref();
  void refresh();
  return {
    state: () => current,
    refresh,
    drain() {
      draining = true;
      if (current.ready) changed(false);
      current = { ...current, ready: false };
    },
    stop: () => clearInterval(timer),
  };
}

export interface OpsServer {
  server: Server;
  /** The bound port (useful with port 0). */
  port: number;
  /** Marks the process as stopping (/healthz and /readyz 503) and closes the listener. */
  markStopping(): void;
  close(): Promise<void>;
}

/**
 * `/healthz` 200 while alive and not shutting down; `/readyz` runs the checks now (each bounded by a timeout)
 * and answers 200 `{status:'ready', checks}` or 503 `{status:'not_ready', checks}` naming what failed;
 * `/metrics` is the Prometheus text of `registry`. Pass a `readiness` monitor (shared with gRPC health), or
 * just `checks` and one is made here (stopped by `close`).
 */
export async function startOpsServer(opts: {
  host: string;
  port: number;
  logger: Logger;
  registry: Registry;
  readiness?: ReadinessMonitor;
  checks?: Record<string, Check>;
}): Promise<OpsServer> {
  if (!opts.readiness && !opts.checks) throw new Error('startOpsServer needs readiness or checks');
  const own = opts.readiness ? undefined : readinessMonitor({ checks: opts.checks ?? {}, logger: opts.logger });
  const readiness = opts.readiness ?? own!;
  let closing = false;
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (url === '/healthz') return send(closing ? 503 : 200, { status: closing ? 'stopping' : 'ok' });
    if (url === '/readyz') {
      void readiness.refresh().then((s) => send(s.ready && !closing ? 200 : 503, { status: s.ready && !closing ? 'ready' : 'not_ready', checks: s.checks }));
      return;
    }
    if (url === '/metrics') {
      // The service's registry (with its default labels), then the kit's own metrics (dead letters, replays).
      void Promise.all([opts.registry.metrics(), kitRegistry.metrics()]).then(
        ([own, kit]) => send(200, kit ? `${own}\n${kit}` : own, opts.registry.contentType),
        () => send(500, { error: { code: 'internal', message: 'metrics failed' } }),
      );
      return;
    }
    send(404, { error: { code: 'not_found', message: 'not found' } });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port, opts.host, () => ok());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  opts.logger.info({ port }, 'ops HTTP listening (/healthz /readyz /metrics)');
  return {
    server,
    port,
    markStopping: () => {
      closing = true;
    },
    close: () =>
      new Promise<void>((ok) => {
        closing = true;
        own?.stop();
        server.close(() => ok());
        server.closeAllConnections?.();
      }),
  };
}
