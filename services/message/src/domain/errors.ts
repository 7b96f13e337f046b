// Domain errors with the protocol.md §6 codes. (Temporary local class until @parley/kit's ParleyError lands.)
export class DomainError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'DomainError';
  }
}
export const badRequest = (m: string) => new DomainError('bad_request', m);
export const tooLarge = (m: string) => new DomainError('too_large', m);
export const notMember = (m = 'not a member of this chat') => new DomainError('not_member', m);
export const notFound = (m: string) => new DomainError('not_found', m);
export const unavailable = (m: string) => new DomainError('unavailable', m);
export const internal = (m: string) => new DomainError('internal', m);
