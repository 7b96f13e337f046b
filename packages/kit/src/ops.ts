// The ops HTTP endpoints every service serves: /healthz (alive), /readyz (its stores answer), /metrics.
// A readiness monitor re-checks the stores every few seconds and mirrors the result into gRPC health,
// so a store that goes away makes the service not-ready and its return makes it ready, with no restart.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

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

export function readinessMonitor(opts: {
  checks: Record<string, Check>;
  logger: Logger;
  intervalMs?: number;
  timeoutMs?: number;
  onChange?: (ready: boolean) => void;
}): ReadinessMonitor {
  const log = opts.logger.child({ subsystem: 'readiness' });
  let draining = false;
  let current: ReadinessState = { ready: false, checks: {}, at: 0 };
  let running: Promise<ReadinessState> | undefined;
  const refresh = (): Promise<ReadinessState> => {
    running ??= (async () => {
      const entries = await Promise.all(
        Object.entries(opts.checks).map(async ([name, check]) => {
          const t0 = Date.now();
          try {
            await withTimeout(check(), opts.timeoutMs ?? 1500);
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
        opts.onChange?.(ready);
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
      if (current.ready) opts.onChange?.(false);
      current = { ...current, ready: false };
    },
    stop: () => clearInterval(timer),
  };
}

export interface OpsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startOpsServer(opts: {
  host: string;
  port: number;
  logger: Logger;
  registry: Registry;
  readiness: ReadinessMonitor;
}): Promise<OpsServer> {
  let closing = false;
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (url === '/healthz') return send(closing ? 503 : 200, { status: closing ? 'stopping' : 'ok' });
    if (url === '/readyz') {
      void opts.readiness.refresh().then((s) => send(s.ready && !closing ? 200 : 503, { status: s.ready && !closing ? 'ready' : 'not_ready', checks: s.checks }));
      return;
    }
    if (url === '/metrics') {
      void opts.registry.metrics().then(
        (text) => send(200, text, opts.registry.contentType),
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
    close: () =>
      new Promise<void>((ok) => {
        closing = true;
        server.close(() => ok());
        server.closeAllConnections?.();
      }),
  };
}
