// The bridge from protobuf-es descriptors to grpc-js definitions: path `/${typeName}/${name}`,
// toBinary/fromBinary as (de)serializers.
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type DescService } from '@bufbuild/protobuf';
import { ParleyError, grpcStatusFor, codeForGrpcStatus, isErrorCode, GrpcStatus } from '../errors.js';

export function methodPath(service: DescService, method: DescMethod): string {
  return `/${service.typeName}/${method.name}`;
}

export function serializer(schema: DescMessage) {
  return (value: unknown): Buffer => {
    // Accept both init shapes and messages: create() returns a message of the schema as-is.
    const msg = create(schema, value as never);
    return Buffer.from(toBinary(schema, msg));
  };
}

export function deserializer(schema: DescMessage) {
  return (buf: Buffer) => fromBinary(schema, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
}

export function definitionFor(service: DescService): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of service.methods) {
    if (m.methodKind !== 'unary' && m.methodKind !== 'server_streaming') {
      throw new Error(`${service.typeName}.${m.name}: only unary and server-streaming methods are supported`);
    }
    def[m.localName] = {
      path: methodPath(service, m),
      requestStream: false,
      responseStream: m.methodKind === 'server_streaming',
      requestSerialize: serializer(m.input),
      requestDeserialize: deserializer(m.input),
      responseSerialize: serializer(m.output),
      responseDeserialize: deserializer(m.output),
      originalName: m.localName,
    };
  }
  return def;
}

export const META_CODE = 'parley-code';
export const META_RETRY = 'parley-retry-after-ms';

/** ParleyError → grpc status object with the exact parley code in trailing metadata. */
export function toServiceError(err: ParleyError): Partial<grpc.ServiceError> {
  const metadata = new grpc.Metadata();
  metadata.set(META_CODE, err.code);
  if (err.retryAfterMs !== undefined) metadata.set(META_RETRY, String(err.retryAfterMs));
  return { code: grpcStatusFor(err.code), details: err.code === 'internal' ? 'internal error' : err.message, metadata };
}

/** Any error from a grpc-js call → ParleyError, keeping the server's parley code when there is one. */
export function fromGrpcError(err: unknown): ParleyError {
  if (err instanceof ParleyError) return err;
  const e = err as Partial<grpc.ServiceError> | undefined;
  if (!e || typeof e.code !== 'number') return new ParleyError('internal', 'internal error', { cause: err });
  const raw = e.metadata?.get(META_CODE)?.[0];
  const metaCode = typeof raw === 'string' ? raw : raw?.toString();
  const retryRaw = e.metadata?.get(META_RETRY)?.[0];
  const retryAfterMs = retryRaw !== undefined ? Number(retryRaw.toString()) : undefined;
  if (isErrorCode(metaCode)) {
    return new ParleyError(metaCode, e.details ?? metaCode, retryAfterMs !== undefined ? { retryAfterMs } : {});
  }
  // grpc-js reports a broken HTTP/2 stream or session (a server that died or shed the connection mid-call)
  // as INTERNAL without a parley code: that is a transport failure, so retryable.
  const transport = e.code === GrpcStatus.INTERNAL && /RST_STREAM|Session closed|session destroyed|GOAWAY|ECONNRESET/i.test(e.details ?? '');
  const code = transport ? 'unavailable' : codeForGrpcStatus(e.code);
  const message = transport
    ? 'upstream connection lost, retry'
    :
    e.code === GrpcStatus.UNIMPLEMENTED
      ? 'this operation is not available yet'
      : e.code === GrpcStatus.DEADLINE_EXCEEDED
        ? 'upstream deadline exceeded, retry'
        : e.code === GrpcStatus.UNAVAILABLE
          ? 'upstream service unavailable, retry'
          : code === 'internal'
            ? 'internal error'
            : (e.details ?? code);
  return new ParleyError(code, message, { cause: err });
}
