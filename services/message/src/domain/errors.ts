// Domain errors: the kit's ParleyError with the protocol.md §6 codes.
import { ParleyError } from '@parley/kit';

export const badRequest = (m: string) => new ParleyError('bad_request', m);
export const tooLarge = (m: string) => new ParleyError('too_large', m);
export const notMember = (m = 'not a member of this chat') => new ParleyError('not_member', m);
export const notFound = (m: string) => new ParleyError('not_found', m);
export const unavailable = (m: string, cause?: unknown) => new ParleyError('unavailable', m, { cause });
export const internal = (m: string) => new ParleyError('internal', m);
