import { hashPassword, verifyPassword } from './passwords.js';

describe('passwords', () => {
  it('stores scrypt with its parameters and a fresh salt, never the password', async () => {
    const a = await hashPassword('correct horse', 1024);
    const b = await hashPassword('correct horse', 1024);
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('correct horse');
  });

  it('verifies the right password only, with the parameters recorded in the hash', async () => {
    const h = await hashPassword('correct horse', 2048);
    expect(await verifyPassword('correct horse', h)).toBe(true);
    expect(await verifyPassword('correct horsf', h)).toBe(false);
    expect(await verifyPassword('', h)).toBe(false);
    // A hash made at another cost still verifies: the cost travels with it.
    expect(await verifyPassword('pw-12345', await hashPassword('pw-12345', 1024))).toBe(true);
  });

  it('refuses malformed hashes', async () => {
    expect(await verifyPassword('x', 'plaintext')).toBe(false);
    expect(await verifyPassword('x', 'bcrypt$1$2$3$4$5')).toBe(false);
  });
});
