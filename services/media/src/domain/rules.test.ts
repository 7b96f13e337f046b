// Pure rules of the media domain: the content-type allow list, the upload declaration, download access.
import { ParleyError } from '@parley/kit';
import { ContentTypePolicy, DEFAULT_ALLOWED_CONTENT_TYPES, normalizeContentType } from './content-types.js';
import { cleanFileName, sha256HexToBase64, validateDeclaration } from './upload-rules.js';
import { memberMaySee } from './access.js';

const codeOf = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (err) {
    return err instanceof ParleyError ? err.code : String(err);
  }
};

describe('content types', () => {
  it('normalizes and matches exact types and type/* wildcards', () => {
    expect(normalizeContentType(' Image/JPEG ; q=1')).toBe('image/jpeg');
    expect(normalizeContentType('nonsense')).toBeUndefined();
    expect(normalizeContentType('a/b/c')).toBeUndefined();
    const p = new ContentTypePolicy(['image/*', 'application/pdf', '']);
    expect([p.allows('image/x-foo'), p.allows('application/pdf'), p.allows('application/zip'), p.allows('imagex/png')]).toEqual([true, true, false, false]);
    const d = new ContentTypePolicy(DEFAULT_ALLOWED_CONTENT_TYPES);
    expect(['image/heic', 'audio/ogg', 'video/mp4', 'application/pdf'].every((t) => d.allows(t))).toBe(true);
    expect(d.allows('application/x-msdownload')).toBe(false);
  });
});

describe('upload declaration', () => {
  const policy = new ContentTypePolicy(DEFAULT_ALLOWED_CONTENT_TYPES);
  const ok = { contentType: 'image/png', size: 10, sha256: 'A'.repeat(64) };
  it('accepts a valid declaration and normalizes it', () => {
    expect(validateDeclaration({ ...ok, fileName: 'C:\\photos\\me.png' }, policy, 100)).toEqual({ contentType: 'image/png', size: 10, sha256: 'a'.repeat(64), fileName: 'me.png' });
  });
  it('refuses bad sizes, hashes, types and names with the protocol codes', () => {
    expect(codeOf(() => validateDeclaration({ ...ok, size: 0 }, policy, 100))).toBe('bad_request');
    expect(codeOf(() => validateDeclaration({ ...ok, size: -1 }, policy, 100))).toBe('bad_request');
    expect(codeOf(() => validateDeclaration({ ...ok, size: 1.5 }, policy, 100))).toBe('bad_request');
    expect(codeOf(() => validateDeclaration({ ...ok, size: 101 }, policy, 100))).toBe('too_large');
    expect(codeOf(() => validateDeclaration({ ...ok, sha256: 'a'.repeat(63) }, policy, 100))).toBe('bad_request');
    expect(codeOf(() => validateDeclaration({ ...ok, contentType: 'text/html' }, policy, 100))).toBe('bad_request');
    expect(codeOf(() => cleanFileName('a/..'))).toBe('bad_request');
    expect(codeOf(() => cleanFileName('x'.repeat(256)))).toBe('bad_request');
    expect(cleanFileName('bad\u0000name\n.txt')).toBe('badname.txt');
  });
  it('encodes the digest as S3 wants it', () => {
    expect(sha256HexToBase64('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')).toBe('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
  });
});

describe('download access', () => {
  const members = [
    { userId: 'a', joinedSeq: 1, pending: false },
    { userId: 'late', joinedSeq: 8, pending: false },
    { userId: 'adding', joinedSeq: 3, pending: true },
  ];
  it('members who joined at or before the carrying message; not later joiners, pending or non-members', () => {
    expect(memberMaySee({ chatId: 'c', seq: 5 }, members, 'a')).toBe(true);
    expect(memberMaySee({ chatId: 'c', seq: 8 }, members, 'late')).toBe(true);
    expect(memberMaySee({ chatId: 'c', seq: 7 }, members, 'late')).toBe(false);
    expect(memberMaySee({ chatId: 'c', seq: 5 }, members, 'adding')).toBe(false);
    expect(memberMaySee({ chatId: 'c', seq: 5 }, members, 'removed')).toBe(false);
  });
});
