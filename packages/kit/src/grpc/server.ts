// gRPC servers from plain async handlers, with grpc.health.v1 on every server.
import * as grpc from '@grpc/grpc-js';
import type { DescService } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { healthV1 } from '@parley/proto';
import type { PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import { ParleyError, asParleyError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { definitionFor, toServiceError } from './codec.js';
import { MESH_CALLS, MeshIdentityError, callersOf, identityOfPeer, meshIdentityFromEnv, type MeshIdentity } from './identity.js';
import type { HandlerContext, ServiceImpl } from './types.js';

export type HealthStatus = 'SERVING' | 'NOT_SERVING';

export interface GrpcServer {
  addService<S extends GenService<GenServiceMethods>>(service: S, impl: ServiceImpl<S>): void;
  /** Binds host:port (port 0 = any free port) and returns the bound port. */
  listen(host: string, port: number): Promise<number>;
  health: {
    /**
     * `''` is the whole server and also sets every registered service (readiness mirrors into it); a service
     * is registered as NOT_SERVING by `addService` until set.
     */
    set(service: string, status: HealthStatus): void;
    get(service: string): HealthStatus | undefined;
  };
  /**
   * Marks every service NOT_SERVING, ends Health.Watch streams, stops accepting, lets in-flight calls finish
   * up to timeoutMs (default 10 s), then forces. Idempotent.
   */
  shutdown(timeoutMs?: number): Promise<void>;
  /** Same as `shutdown`. */
  tryShutdown(timeoutMs?: number): Promise<void>;
}

export interface GrpcServerOptions {
  logger: Logger;
  metrics?: Metrics;
  maxReceiveMessageLength?: number;
  /** This server's mesh identity (default: the directory PARLEY_MESH_TLS_DIR names; none → throws). */
  identity?: MeshIdentity;
  /**
   * The client identities admitted (default: `callersOf(identity.name)`, the MESH_CALLS graph). Every other
   * caller gets PERMISSION_DENIED (`forbidden`); grpc.health.v1 admits any certificate the mesh CA issued.
   */
  allowedCallers?: readonly string[];
}

const HEALTH_SERVICE = 'grpc.health.v1.Health';

function contextOf(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>, caller: string): {
  ctx: HandlerContext;
  done: () => void;
} {
  const ac = new AbortController();
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = typeof v === 'string' ? v : v.toString();
  const deadline = call.getDeadline();
  let timer: NodeJS.Timeout | undefined;
  const d = deadline instanceof Date ? deadline : typeof deadline === 'number' && Number.isFinite(deadline) ? new Date(deadline) : undefined;
  if (d) {
    const ms = d.getTime() - Date.now();
    timer = setTimeout(() => ac.abort(new ParleyError('unavailable', 'deadline exceeded')), Math.max(0, ms));
    timer.unref();
  }
  const onCancel = () => ac.abort(new ParleyError('unavailable', 'cancelled by caller'));
  call.once('cancelled', onCancel);
  const ctx: HandlerContext = { signal: ac.signal, metadata, peer: call.getPeer(), caller };
  if (d) ctx.deadline = d;
  return {
    ctx,
    done: () => {
      if (timer) clearTimeout(timer);
      call.removeListener('cancelled', onCancel);
    },
  };
}

/** Resolves when the stream can take more writes, or when the call is aborted (so a gone client never pins it). */
function drained(call: grpc.ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((ok) => {
    const finish = () => {
      call.removeListener('drain', finish);
      signal.removeEventListener('abort', finish);
      ok();
    };
    if (signal.aborted) return ok();
    call.once('drain', finish);
    signal.addEventListener('abort', finish, { once: true });
  });
}

export function createGrpcServer(opts: GrpcServerOptions): GrpcServer {
  const log = opts.logger.child({ subsystem: 'grpc' });
  const identity = opts.identity ?? meshIdentityFromEnv();
  if (!opts.allowedCallers && !MESH_CALLS[identity.name]) {
    throw new MeshIdentityError(`gRPC server identity "${identity.name}" is not a mesh service (MESH_CALLS) and no allowedCallers were given`);
  }
  const allowed = new Set(opts.allowedCallers ?? callersOf(identity.name));
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxReceiveMessageLength ?? 8 * 1024 * 1024,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
  const health = new Map<string, HealthStatus>([['', 'NOT_SERVING']]);
  // Aborted at shutdown: ends Health.Watch streams, which would otherwise hold tryShutdown open.
  const closing = new AbortController();
  const watchers = new Set<{ service: string; push: (s: HealthStatus | undefined) => void }>();
  const handled = opts.metrics?.counter('parley_grpc_server_handled_total', 'gRPC calls handled', ['method', 'code']);
  const duration = opts.metrics?.histogram('parley_grpc_server_handling_seconds', 'gRPC handling time', ['method'], [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
  ]);

  const denied = opts.metrics?.counter('parley_grpc_server_denied_total', 'gRPC calls refused: the caller identity may not call this service', ['caller']);
  /** The caller's identity if it may call `service`, else a `forbidden` error (PERMISSION_DENIED). */
  const admit = (call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>, service: string, method: string): string | ParleyError => {
    // The TLS handshake already refused any client without a certificate issued by the mesh CA.
    const caller = callerOf(call);
    if (caller !== undefined && (service === HEALTH_SERVICE || allowed.has(caller))) return caller;
    denied?.inc({ caller: caller ?? '(none)' });
    handled?.inc({ method, code: 'forbidden' });
    log.warn({ caller: caller ?? null, method, peer: call.getPeer() }, 'gRPC call refused: caller may not call this service');
    return new ParleyError('forbidden', `mesh identity "${caller ?? '(none)'}" may not call ${identity.name}`);
  };

  const fail = (err: unknown, method: string): Partial<grpc.ServiceError> => {
    const pe = asParleyError(err);
    if (pe.code === 'internal') log.error({ err: pe.cause ?? pe, method }, 'handler failed');
    else if (pe.code === 'unavailable' && pe.cause !== undefined) log.warn({ err: pe.cause, method }, 'store unavailable');
    handled?.inc({ method, code: pe.code });
    return toServiceError(pe);
  };

  function add(service: DescService, impl: Record<string, unknown>): void {
    const def = definitionFor(service);
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const m of service.methods) {
      const fn = impl[m.localName];
      if (typeof fn !== 'function') continue; // unregistered → UNIMPLEMENTED, answered as `unavailable`
      const name = `${service.name}.${m.name}`;
      if (m.methodKind === 'unary') {
        handlers[m.localName] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
          const caller = admit(call, service.typeName, name);
          if (caller instanceof ParleyError) return cb(toServiceError(caller));
          const t0 = process.hrtime.bigint();
          const { ctx, done } = contextOf(call, caller);
          Promise.resolve()
            .then(() => (fn as (r: unknown, c: HandlerContext) => Promise<unknown>)(call.request, ctx))
            .then(
              (res) => {
                handled?.inc({ method: name, code: 'ok' });
                cb(null, res);
              },
              (err: unknown) => cb(fail(err, name)),
            )
            .finally(() => {
              done();
              duration?.observe({ method: name }, Number(process.hrtime.bigint() - t0) / 1e9);
            });
        };
      } else {
        handlers[m.localName] = (call: grpc.ServerWritableStream<unknown, unknown>) => {
          const caller = admit(call, service.typeName, name);
          if (caller instanceof ParleyError) return void call.emit('error', toServiceError(caller));
          const t0 = process.hrtime.bigint();
          const { ctx, done } = contextOf(call, caller);
          void (async () => {
            try {
              for await (const item of (fn as (r: unknown, c: HandlerContext) => AsyncIterable<unknown>)(call.request, ctx)) {
                if (call.cancelled || ctx.signal.aborted) break;
                if (!call.write(item)) await drained(call, ctx.signal);
              }
              if (call.cancelled) {
                handled?.inc({ method: name, code: 'cancelled' });
                return;
              }
              if (ctx.signal.aborted) {
                // Our deadline timer fired before grpc-js's: never end a cut stream with OK.
                handled?.inc({ method: name, code: 'unavailable' });
                call.emit('error', { code: grpc.status.DEADLINE_EXCEEDED, details: 'deadline exceeded' });
                return;
              }
              handled?.inc({ method: name, code: 'ok' });
              call.end();
            } catch (err) {
              if (call.cancelled) {
                handled?.inc({ method: name, code: 'cancelled' });
                return;
              }
              call.emit('error', fail(err, name));
            } finally {
              done();
              duration?.observe({ method: name }, Number(process.hrtime.bigint() - t0) / 1e9);
            }
          })();
        };
      }
    }
    server.addService(def, handlers);
  }

  // grpc.health.v1
  add(healthV1.Health, {
    check: async (req: { service: string }) => {
      const s = health.get(req.service);
      if (!s) throw new ParleyError('not_found', `unknown service "${req.service}"`);
      return { status: s === 'SERVING' ? healthV1.HealthCheckResponse_ServingStatus.SERVING : healthV1.HealthCheckResponse_ServingStatus.NOT_SERVING };
    },
    watch: async function* (req: { service: string }, ctx: HandlerContext) {
      const queue: (HealthStatus | undefined)[] = [health.get(req.service)];
      let wake: (() => void) | undefined;
      const w = { service: req.service, push: (s: HealthStatus | undefined) => { queue.push(s); wake?.(); } };
      watchers.add(w);
      const onAbort = () => wake?.();
      ctx.signal.addEventListener('abort', onAbort);
      closing.signal.addEventListener('abort', onAbort);
      try {
        for (;;) {
          while (queue.length) {
            const s = queue.shift();
            yield {
              status:
                s === undefined
                  ? healthV1.HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN
                  : s === 'SERVING'
                    ? healthV1.HealthCheckResponse_ServingStatus.SERVING
                    : healthV1.HealthCheckResponse_ServingStatus.NOT_SERVING,
            };
          }
          // Ends after telling the watcher the last status (NOT_SERVING at shutdown).
          if (ctx.signal.aborted || closing.signal.aborted) return;
          await new Promise<void>((r) => {
            wake = r;
            if (ctx.signal.aborted || closing.signal.aborted || queue.length) r();
          });
        }
      } finally {
        watchers.delete(w);
        ctx.signal.removeEventListener('abort', onAbort);
        closing.signal.removeEventListener('abort', onAbort);
      }
    },
  });

  const setHealth = (service: string, status: HealthStatus) => {
    const keys = service === '' ? [...health.keys()] : [service];
    for (const k of keys) {
      if (health.get(k) === status) continue;
      health.set(k, status);
      for (const w of watchers) if (w.service === k) w.push(status);
    }
  };

  let stopped: Promise<void> | undefined;
  const shutdown = (timeoutMs = 10_000): Promise<void> =>
    (stopped ??= new Promise<void>((ok) => {
      setHealth('', 'NOT_SERVING');
      closing.abort();
      const t = setTimeout(() => {
        log.warn({ timeoutMs }, 'gRPC calls still running at the shutdown deadline: forcing');
        server.forceShutdown();
        ok();
      }, timeoutMs);
      t.unref();
      server.tryShutdown(() => {
        clearTimeout(t);
        ok();
      });
    }));

  return {
    addService(service, impl) {
      add(service as unknown as DescService, impl as Record<string, unknown>);
      if (!health.has(service.typeName)) health.set(service.typeName, 'NOT_SERVING');
    },
    listen(host, port) {
      return new Promise((ok, fail2) => {
        // Mutual TLS: a client without a certificate issued by the mesh CA fails the handshake.
        const creds = grpc.ServerCredentials.createSsl(identity.ca, [{ private_key: identity.key, cert_chain: identity.cert }], true);
        applyServerSocketOptions(creds);
        server.bindAsync(`${host}:${port}`, creds, (err, bound) => {
          if (err) fail2(err);
          else {
            log.info({ host, port: bound, identity: identity.name, callers: [...allowed] }, 'gRPC listening (mutual TLS)');
            ok(bound);
          }
        });
      });
    },
    health: {
      set: setHealth,
      get: (service) => health.get(service),
    },
    shutdown,
    tryShutdown: shutdown,
  };
}

/**
 * Options grpc-js passes to the server's `http2.createSecureServer`, through the credentials' constructor
 * options (a hook internal to grpc-js, `_getConstructorOptions`: checked here, so an upgrade that removes it
 * fails loudly; kit test `grpc.test.ts` "server sockets" checks the options reach the server):
 * - `noDelay`: grpc-js sets TCP_NODELAY on its client sockets but not on the server's, so a reply written
 *   while an earlier frame to the same client was unacknowledged (SendBatch's `accepted` event, then its
 *   results; two unary replies in a row) could wait for the client's delayed ACK (no difference measured on
 *   the 1:1 bench within its noise: bench/README.md, fourth pass; kept as the right setting for RPC sockets).
 * - `minVersion: 'TLSv1.3'`: no renegotiation, so the peer certificate of a connection never changes, which is
 *   what lets `callerOf` remember a connection's caller (every mesh client is grpc-js on Node, TLS 1.3).
 */
export function applyServerSocketOptions(creds: grpc.ServerCredentials): void {
  const c = creds as unknown as { _getConstructorOptions?: () => object | null };
  const base = c._getConstructorOptions?.bind(creds);
  if (!base) throw new Error('grpc-js ServerCredentials no longer has _getConstructorOptions: update applyServerSocketOptions');
  c._getConstructorOptions = () => ({ ...(base() ?? {}), noDelay: true, minVersion: 'TLSv1.3' });
}

/** The TLS socket under a grpc-js server call (handler call → intercepting call → base call → http2 stream), if found. */
function socketOf(call: object): object | undefined {
  let c: unknown = call;
  for (let i = 0; i < 6 && c && typeof c === 'object'; i++) {
    const o = c as { stream?: { session?: { socket?: object } }; call?: unknown; nextCall?: unknown };
    const socket = o.stream?.session?.socket;
    if (socket) return socket;
    c = o.call ?? o.nextCall;
  }
  return undefined;
}

const callers = new WeakMap<object, string | undefined>();

/**
 * The mesh identity (certificate CN) of a call's peer, read once per connection: `getAuthContext()` converts
 * the peer certificate to a JS object on every call (`TLSSocket.getPeerCertificate`, the largest single
 * function in the profiles of session, message and presence: 1.3–3.5 % of their samples). The certificate of
 * a TLS 1.3 connection cannot change, so the answer is kept with the socket (and goes with it).
 */
export function callerOf(call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate } | undefined }): string | undefined {
  const socket = socketOf(call);
  if (socket && callers.has(socket)) return callers.get(socket);
  const caller = identityOfPeer(call.getAuthContext()?.sslPeerCertificate);
  if (socket) callers.set(socket, caller);
  return caller;
}
