import * as grpc from '@grpc/grpc-js';
import { healthV1, testingV1 } from '@parley/proto';
import { ERROR_CODES, GrpcStatus, ParleyError } from '../errors.js';
import { definitionFor, fromGrpcError, toServiceError } from './codec.js';

describe('definitionFor', () => {
  it('builds paths from the descriptor and (de)serializes with protobuf-es', () => {
    const def = definitionFor(testingV1.EchoService);
    expect(Object.keys(def).sort()).toEqual(['echo', 'echoStream']);
    expect(def.echo!.path).toBe('/parley.testing.v1.EchoService/Echo');
    expect(def.echo!.responseStream).toBe(false);
    expect(def.echoStream!.path).toBe('/parley.testing.v1.EchoService/EchoStream');
    expect(def.echoStream!.responseStream).toBe(true);
    const bytes = def.echo!.requestSerialize({ text: 'x', big: -(2n ** 63n), ubig: 2n ** 64n - 1n, blob: new Uint8Array([9]) });
    const back = def.echo!.requestDeserialize(bytes) as testingV1.EchoRequest;
    expect(back).toMatchObject({ text: 'x', big: -(2n ** 63n), ubig: 2n ** 64n - 1n });
    expect(Array.from(back.blob)).toEqual([9]);
    expect(definitionFor(healthV1.Health).watch!.path).toBe('/grpc.health.v1.Health/Watch');
  });
});

const asServiceError = (p: Partial<grpc.ServiceError>): grpc.ServiceError => Object.assign(new Error(p.details ?? ''), p) as grpc.ServiceError;

describe('ParleyError over gRPC status + trailers', () => {
  it.each([...ERROR_CODES])('%s survives the round trip', (code) => {
    const s = toServiceError(new ParleyError(code, `m ${code}`, { retryAfterMs: 42 }));
    const back = fromGrpcError(asServiceError(s));
    expect(back.code).toBe(code);
    expect(back.retryAfterMs).toBe(42);
    expect(back.message).toBe(code === 'internal' ? 'internal error' : `m ${code}`);
  });

  it('maps transport failures without a parley code to unavailable', () => {
    for (const code of [GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED, GrpcStatus.UNIMPLEMENTED, GrpcStatus.CANCELLED]) {
      const e = fromGrpcError(asServiceError({ code, details: 'x', metadata: new grpc.Metadata() }));
      expect(e.code).toBe('unavailable');
    }
    expect(fromGrpcError(asServiceError({ code: GrpcStatus.UNKNOWN, details: 'stack at x', metadata: new grpc.Metadata() }))).toMatchObject({
      code: 'internal',
      message: 'internal error',
    });
  });

  it('ignores a bogus parley-code and keeps non-grpc errors internal', () => {
    const md = new grpc.Metadata();
    md.set('parley-code', 'teapot');
    expect(fromGrpcError(asServiceError({ code: GrpcStatus.NOT_FOUND, details: 'nf', metadata: md })).code).toBe('not_found');
    expect(fromGrpcError(new Error('x')).code).toBe('internal');
    const pe = new ParleyError('conflict', 'c');
    expect(fromGrpcError(pe)).toBe(pe);
  });

  it('treats a broken HTTP/2 stream (INTERNAL without a parley code) as unavailable, other INTERNALs as internal', () => {
    const rst = fromGrpcError(asServiceError({ code: GrpcStatus.INTERNAL, details: 'Received RST_STREAM with code 2 triggered by internal client error: Session closed with error code 2', metadata: new grpc.Metadata() }));
    expect(rst.code).toBe('unavailable');
    expect(fromGrpcError(asServiceError({ code: GrpcStatus.INTERNAL, details: 'boom', metadata: new grpc.Metadata() })).code).toBe('internal');
  });
});
