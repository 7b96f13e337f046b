import { KeySealer } from './key-sealer.js';

describe('KeySealer', () => {
  const jwk = JSON.stringify({ kty: 'EC', crv: 'P-256', d: 'secret-part', x: 'x', y: 'y' });

  it('seals so the stored text reveals nothing and opens with the same secret', () => {
    const s = new KeySealer('a long random secret');
    const sealed = s.seal(jwk);
    expect(sealed.startsWith('enc1:')).toBe(true);
    expect(sealed).not.toContain('secret-part');
    expect(s.seal(jwk)).not.toBe(sealed); // fresh IV
    expect(new KeySealer('a long random secret').open(sealed)).toBe(jwk);
  });

  it('refuses a wrong or missing secret and tampered text', () => {
    const sealed = new KeySealer('one').seal(jwk);
    expect(() => new KeySealer('two').open(sealed)).toThrow(/differs/);
    expect(() => new KeySealer(undefined).open(sealed)).toThrow(/SESSION_SIGNING_KEY_SECRET/);
    const last = sealed.at(-2) === 'A' ? 'B' : 'A';
    expect(() => new KeySealer('one').open(sealed.slice(0, -2) + last + sealed.slice(-1))).toThrow();
  });

  it('passes plain keys through when there is no secret, and reads plain keys written before one was set', () => {
    expect(new KeySealer(undefined).seal(jwk)).toBe(jwk);
    expect(new KeySealer('one').open(jwk)).toBe(jwk);
  });
});
