// Typed promise clients with deadlines; errors arrive as ParleyError.
import * as grpc from '@grpc/grpc-js';
import type { DescService } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { ParleyError } from '../errors.js';
import { deserializer, fromGrpcError, methodPath, serializer } from './codec.js';
import type { CallOptions, Client } from './types.js';
import { identityOfPeer, meshIdentityFromEnv, serviceIdentityOf, type MeshIdentity } from './identity.js';
import type { Logger } from 'pino';

export interface ClientOptions {
  /** Default deadline per unary call (ms, default 5000). Streams have none unless the call sets `deadlineMs`. */
  deadlineMs?: number;
  /** Failed calls are logged here at debug level (the caller decides what is worth a warning). */
  logger?: Logger;
  /** The certificate this client presents (default: the directory PARLEY_MESH_TLS_DIR names; none → throws). */
  identity?: MeshIdentity;
  /**
   * The identity the server must prove (its certificate's CN). Default: the service's own (`parley.session.v1.…`
   * → `session`); for other services (grpc.health.v1, tests) any certificate the mesh CA issued.
   */
  server?: string;
}

/** Client credentials: our certificate, the mesh CA as the only trust anchor, the server's identity checked by name. */
function channelCredentials(identity: MeshIdentity, expected: string | undefined): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(identity.ca, identity.key, identity.cert, {
    // The address (a Service name, a pod IP, 127.0.0.1) says nothing about who answers; the certificate does.
    checkServerIdentity: (_host, cert) => {
      const got = identityOfPeer(cert);
      if (got === undefined) return new Error('the server certificate carries no mesh identity');
      if (expected !== undefined && got !== expected) return new Error(`the server is "${got}", not "${expected}"`);
      return undefined;
    },
  });
}

function metadataOf(opts?: CallOptions): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts?.metadata ?? {})) md.set(k, v);
  return md;
}

export function createClient<S extends GenService<GenServiceMethods>>(service: S, address: string, options: ClientOptions = {}): Client<S> {
  const desc = service as unknown as DescService;
  const defaultDeadline = options.deadlineMs ?? 5000;
  const log = options.logger?.child({ subsystem: 'grpc-client', target: address });
  const failed = (method: string, err: unknown): ParleyError => {
    const pe = fromGrpcError(err);
    log?.debug({ method, code: pe.code, err: pe.message }, 'gRPC call failed');
    return pe;
  };
  const identity = options.identity ?? meshIdentityFromEnv();
  const channel = new grpc.Client(address, channelCredentials(identity, options.server ?? serviceIdentityOf(desc.typeName)), {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 2_000,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
  const out: Record<string, unknown> = {};
  for (const m of desc.methods) {
    const path = methodPath(desc, m);
    const ser = serializer(m.input);
    const de = deserializer(m.output);
    if (m.methodKind === 'unary') {
      out[m.localName] = (req: unknown, opts?: CallOptions) =>
        new Promise((ok, fail) => {
          if (opts?.signal?.aborted) return fail(new ParleyError('unavailable', 'cancelled'));
          const deadline = new Date(Date.now() + (opts?.deadlineMs ?? defaultDeadline));
          const call = channel.makeUnaryRequest(path, ser, de, req, metadataOf(opts), { deadline }, (err, res) => {
            opts?.signal?.removeEventListener('abort', onAbort);
            if (err) fail(failed(m.name, err));
            else ok(res);
          });
          const onAbort = () => call.cancel();
          opts?.signal?.addEventListener('abort', onAbort, { once: true });
        });
    } else if (m.methodKind === 'server_streaming') {
      out[m.localName] = (req: unknown, opts?: CallOptions) => ({
        async *[Symbol.asyncIterator]() {
          if (opts?.signal?.aborted) throw new ParleyError('unavailable', 'cancelled');
          const deadline = opts?.deadlineMs !== undefined ? new Date(Date.now() + opts.deadlineMs) : Infinity;
          const call = channel.makeServerStreamRequest(path, ser, de, req, metadataOf(opts), { deadline });
          const onAbort = () => call.cancel();
          opts?.signal?.addEventListener('abort', onAbort, { once: true });
          try {
            for await (const item of call) yield item;
          } catch (err) {
            throw failed(m.name, err);
          } finally {
            opts?.signal?.removeEventListener('abort', onAbort);
            call.cancel();
          }
        },
      });
    }
  }
  out.close = () => channel.close();
  out.waitForReady = (deadlineMs = 5000) =>
    new Promise<void>((ok, fail) =>
      channel.waitForReady(Date.now() + deadlineMs, (err) => (err ? fail(new ParleyError('unavailable', err.message)) : ok())),
    );
  return out as Client<S>;
}
