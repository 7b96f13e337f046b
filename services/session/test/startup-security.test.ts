// The built session process refuses to start in production with a low password hash cost or without the
// key-encryption secret, and says why (issue 15). Real process, real env parsing, real exit code.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const main = join(__dirname, '..', 'dist', 'main.js');
function start(env: Record<string, string>) {
  const r = spawnSync(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', SESSION_GRPC_PORT: '0', SESSION_HTTP_PORT: '0', PARLEY_CASSANDRA_KEYSPACE: `never_${Date.now()}`, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

it('refuses a low scrypt cost in production', () => {
  const r = start({ SESSION_SCRYPT_COST: '1024', SESSION_SIGNING_KEY_SECRET: 'some-long-secret-for-sealing-keys' });
  expect(r.code).toBe(1);
  expect(r.out).toMatch(/SESSION_SCRYPT_COST=1024[^"]*below OWASP/);
});

it('refuses to run without SESSION_SIGNING_KEY_SECRET in production (the default PARLEY_ENV)', () => {
  const r = start({});
  expect(r.code).toBe(1);
  expect(r.out).toMatch(/SESSION_SIGNING_KEY_SECRET is not set/);
  expect(r.out).toMatch(/PARLEY_ENV=development or test/);
});
