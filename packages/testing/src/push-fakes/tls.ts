// A throw-away test CA and a server certificate for 127.0.0.1 / ::1 / localhost, made with the openssl CLI and
// cached in ~/.cache/parley/push-fakes-tls (idempotent). The push service trusts the CA through
// NODE_EXTRA_CA_CERTS, the same way an operator adds a corporate CA.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface TestTls {
  caFile: string;
  ca: string;
  key: string;
  cert: string;
}

export function testTls(dir = join(process.env.PARLEY_CACHE_DIR ?? join(homedir(), '.cache', 'parley'), 'push-fakes-tls')): TestTls {
  const caFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'server.key');
  const certFile = join(dir, 'server.pem');
  if (!existsSync(caFile) || !existsSync(keyFile) || !existsSync(certFile)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: tmp, stdio: ['ignore', 'ignore', 'pipe'] });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650', '-subj', '/CN=Parley push fakes test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
    writeFileSync(join(tmp, 'ext.cnf'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n');
    run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '3650', '-extfile', 'ext.cnf']);
    mkdirSync(join(dir, '..'), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another process won the race: use its files
    }
  }
  return { caFile, ca: readFileSync(caFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
}
