// What CreateUpload accepts (protocol.md §7 and docs/protocol.md "Media"): pure checks, no I/O.
import { errors } from '@parley/kit';
import { normalizeContentType, type ContentTypePolicy } from './content-types.js';

export interface UploadDeclaration {
  contentType: string;
  size: number;
  sha256: string;
  fileName?: string | undefined;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** A file name as shown to recipients: the last path segment, no control characters, ≤ 255 chars. */
export function cleanFileName(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  // eslint-disable-next-line no-control-regex
  const base = raw.replace(/[\u0000-\u001f\u007f]/g, '').split(/[\\/]/).pop()!.trim();
  if (!base || base === '.' || base === '..') throw errors.badRequest('fileName: not a usable file name');
  if (base.length > 255) throw errors.badRequest('fileName: at most 255 characters');
  return base;
}

export function validateDeclaration(d: UploadDeclaration, policy: ContentTypePolicy, maxBytes: number): UploadDeclaration {
  const contentType = normalizeContentType(d.contentType ?? '');
  if (!contentType) throw errors.badRequest('contentType: not a MIME type');
  if (!policy.allows(contentType)) throw errors.badRequest(`contentType: ${contentType} is not allowed`);
  if (!Number.isSafeInteger(d.size) || d.size < 1) throw errors.badRequest('size: must be a positive integer');
  if (d.size > maxBytes) throw errors.tooLarge(`size must be at most ${maxBytes} bytes`);
  const sha256 = (d.sha256 ?? '').toLowerCase();
  if (!HEX64.test(sha256)) throw errors.badRequest('sha256: must be 64 hex characters');
  return { contentType, size: d.size, sha256, fileName: cleanFileName(d.fileName) };
}

/** The base64 form S3 wants in x-amz-checksum-sha256. */
export function sha256HexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}
