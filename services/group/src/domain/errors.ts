// Domain failures are ParleyErrors with a protocol.md §6 code; the kit maps them to gRPC statuses.
import { ParleyError, type ErrorCode } from '@parley/kit';

export function fail(code: ErrorCode, message: string): never {
  throw new ParleyError(code, message);
}
