// A built service refuses to start without a mesh identity, or with a broken one, and says why (issue 15:
// no plaintext gRPC mode). Real process, real env parsing, real exit code; the gateway too (a client only).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPki, infraEnv, testPki } from '@parley/testing';

const tmp = mkdtempSync(join(tmpdir(), 'parley-startup-id-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function start(service: string, env: Record<string, string>) {
  const r = spawnSync(process.execPath, [join(__dirname, '..', '..', service, 'dist', 'main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      ...infraEnv(),
      PARLEY_ENV: 'test',
      PARLEY_NAMESPACE: `sid${Date.now().toString(36)}`,
      PARLEY_CASSANDRA_KEYSPACE: `sid_${Date.now().toString(36)}`,
      SESSION_SCRYPT_COST: '1024',
      SESSION_SCRYPT_PARALLELISM: '1',
      SESSION_GRPC_PORT: '0',
      SESSION_HTTP_PORT: '0',
      GATEWAY_PORT: '0',
      ...env,
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

it('session without PARLEY_MESH_TLS_DIR exits 1 naming the variable', () => {
  const r = start('session', {});
  expect(r.code).toBe(1);
  expect(r.out).toMatch(/PARLEY_MESH_TLS_DIR is not set/);
}, 90_000);

it('the gateway with a certificate its ca.crt did not issue exits 1 and says so', () => {
  const pki = testPki();
  const dir = join(tmp, 'mixed');
  mkdirSync(dir);
  const other = join(tmp, 'other');
  const foreign = createPki(other, ['gateway']);
  writeFileSync(join(dir, 'ca.crt'), foreign.identity('gateway').ca);
  writeFileSync(join(dir, 'tls.crt'), pki.identity('gateway').cert);
  writeFileSync(join(dir, 'tls.key'), pki.identity('gateway').key);
  const r = start('gateway', { PARLEY_MESH_TLS_DIR: dir });
  expect(r.code).toBe(1);
  expect(r.out).toMatch(/tls\.crt is not signed by ca\.crt/);
}, 90_000);
