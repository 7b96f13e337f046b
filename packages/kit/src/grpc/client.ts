// Typed promise clients with deadlines; errors arrive as ParleyError.
import * as grpc from '@grpc/grpc-js';
import type { DescService } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { ParleyError } from '../errors.js';
import { deserializer, fromGrpcError, methodPath, serializer } from './codec.js';
import type { CallOptions, Client } from './types.js';
import type { Logger } from 'pino';

export interface ClientOptions {
  /** Default deadline per unary call (ms, default 5000). Streams have none unless the call sets `deadlineMs`. */
  deadlineMs?: number;
  /** Failed calls are logged here at debug level (the caller decides what is worth a warning). */
  logger?: Logger;
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
  const channel = new grpc.Client(address, grpc.credentials.createInsecure(), {
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
