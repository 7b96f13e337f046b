// Settings that must not reach production refuse to start there (issue 15), and are allowed, with a
// warning, only under PARLEY_ENV=development|test.
import { createLogger } from '@parley/kit';
import { envSpec } from './config.js';
import { meetsOwasp } from './domain/passwords.js';
import { checkSecurity } from './wiring.js';

const logger = createLogger('security-test', 'silent');
const cfg = (env: Record<string, string>) => envSpec.parse(env);
const SECRET = { SESSION_SIGNING_KEY_SECRET: 'a-long-enough-key-encryption-secret-value' };

describe('checkSecurity', () => {
  it('the defaults meet OWASP and start in production when the key-encryption secret is set', () => {
    expect(checkSecurity(cfg({ ...SECRET }), logger)).toEqual({ N: 16384, r: 8, p: 5 });
  });

  it('refuses a low scrypt cost in production, naming the variables', () => {
    expect(() => checkSecurity(cfg({ ...SECRET, SESSION_SCRYPT_COST: '1024' }), logger)).toThrow(/SESSION_SCRYPT_COST=1024.*below OWASP.*PARLEY_ENV/);
    expect(() => checkSecurity(cfg({ ...SECRET, SESSION_SCRYPT_PARALLELISM: '1' }), logger)).toThrow(/SESSION_SCRYPT_PARALLELISM=1/);
  });

  it('refuses to store signing keys unencrypted in production', () => {
    expect(() => checkSecurity(cfg({}), logger)).toThrow(/SESSION_SIGNING_KEY_SECRET is not set/);
  });

  it('allows both under PARLEY_ENV=development or test', () => {
    for (const e of ['development', 'test']) {
      expect(checkSecurity(cfg({ PARLEY_ENV: e, SESSION_SCRYPT_COST: '1024', SESSION_SCRYPT_PARALLELISM: '1' }), logger)).toEqual({ N: 1024, r: 8, p: 1 });
    }
  });

  it('an unknown PARLEY_ENV is a config error, not production-by-accident', () => {
    expect(() => cfg({ PARLEY_ENV: 'prod' })).toThrow(/PARLEY_ENV/);
  });

  it('OWASP equivalents', () => {
    expect(meetsOwasp({ N: 131072, r: 8, p: 1 })).toBe(true);
    expect(meetsOwasp({ N: 32768, r: 8, p: 3 })).toBe(true);
    expect(meetsOwasp({ N: 16384, r: 8, p: 4 })).toBe(false);
    expect(meetsOwasp({ N: 65536, r: 8, p: 1 })).toBe(false);
    expect(meetsOwasp({ N: 131072, r: 4, p: 1 })).toBe(false);
  });
});
