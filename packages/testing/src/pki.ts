// A local mesh CA and one certificate per identity (issue 15, mesh identity). `./parley up` and every test
// mesh use it: the same mutual TLS the chart sets up with Helm's genCA/genSignedCert, not a plaintext dev mode.
// Layout (what PARLEY_MESH_TLS_DIR points at, the kubernetes.io/tls Secret layout):
//   <dir>/ca.crt  <dir>/ca.key  <dir>/<identity>/{ca.crt,tls.crt,tls.key}
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import forge from 'node-forge';
import { repoRoot } from './infra.js';

/** The gateways and the six gRPC services (the keys of @parley/kit's MESH_CALLS). */
export const MESH_NAMES = ['gateway', 'group', 'media', 'message', 'presence', 'push', 'session'] as const;

export interface PkiIdentity {
  name: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface Pki {
  /** The root directory (ca.crt, ca.key, one directory per identity). */
  dir: string;
  names: string[];
  /** The directory to give a process as PARLEY_MESH_TLS_DIR. */
  dirOf(name: string): string;
  /** The PEM material of one identity (for `identity:` in @parley/kit's createGrpcServer / createClient). */
  identity(name: string): PkiIdentity;
}

const DAY = 86_400_000;

function rsaKey(): forge.pki.rsa.KeyPair {
  // Node's native RSA key generation (forge's pure-JS one is seconds per key).
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const priv = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  const pub = forge.pki.setRsaPublicKey(priv.n, priv.e);
  return { privateKey: priv, publicKey: pub };
}

function certificate(opts: {
  cn: string;
  publicKey: forge.pki.PublicKey;
  signer: forge.pki.rsa.PrivateKey;
  issuer?: forge.pki.Certificate;
  ca: boolean;
  days: number;
}): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = opts.publicKey;
  c.serialNumber = `01${randomBytes(15).toString('hex')}`; // positive, 128 bits of randomness
  c.validity.notBefore = new Date(Date.now() - 5 * 60_000);
  c.validity.notAfter = new Date(Date.now() + opts.days * DAY);
  const subject = [{ name: 'commonName', value: opts.cn }, { name: 'organizationName', value: 'parley mesh' }];
  c.setSubject(subject);
  c.setIssuer(opts.issuer ? opts.issuer.subject.attributes : subject);
  c.setExtensions(
    opts.ca
      ? [
          { name: 'basicConstraints', cA: true, critical: true },
          { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
          { name: 'subjectKeyIdentifier' },
        ]
      : [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
          { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
          { name: 'subjectAltName', altNames: [{ type: 2, value: opts.cn }] },
          { name: 'subjectKeyIdentifier' },
        ],
  );
  c.sign(opts.signer, forge.md.sha256.create());
  return c;
}

function write(file: string, text: string, mode: number): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, text, { mode });
  chmodSync(file, mode);
}

/**
 * Writes a new CA and a certificate for each name under `dir` (replacing what was there). `keyMode` 0o644 is
 * for material a container's non-root user must read (`./parley up --images`, e2e/images.test.ts).
 */
export function createPki(dir: string, names: readonly string[], opts: { days?: number; keyMode?: number } = {}): Pki {
  const days = opts.days ?? 30;
  const keyMode = opts.keyMode ?? 0o600;
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  rmSync(tmp, { recursive: true, force: true });
  const caKeys = rsaKey();
  const ca = certificate({ cn: 'parley-mesh-ca', publicKey: caKeys.publicKey, signer: caKeys.privateKey, ca: true, days: days + 1 });
  const caPem = forge.pki.certificateToPem(ca);
  write(join(tmp, 'ca.crt'), caPem, 0o644);
  write(join(tmp, 'ca.key'), forge.pki.privateKeyToPem(caKeys.privateKey), 0o600);
  for (const name of names) {
    const keys = rsaKey();
    const cert = certificate({ cn: name, publicKey: keys.publicKey, signer: caKeys.privateKey, issuer: ca, ca: false, days });
    write(join(tmp, name, 'ca.crt'), caPem, 0o644);
    write(join(tmp, name, 'tls.crt'), forge.pki.certificateToPem(cert), 0o644);
    write(join(tmp, name, 'tls.key'), forge.pki.privateKeyToPem(keys.privateKey), keyMode);
  }
  if (keyMode & 0o044) for (const d of [tmp, ...names.map((n) => join(tmp, n))]) chmodSync(d, 0o755);
  // Whole or not at all: a concurrent reader sees the old directory or the new one.
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return openPki(dir, names);
}

function openPki(dir: string, names: readonly string[]): Pki {
  return {
    dir,
    names: [...names],
    dirOf: (name) => {
      if (!names.includes(name)) throw new Error(`no mesh identity "${name}" in ${dir} (has ${names.join(', ')})`);
      return join(dir, name);
    },
    identity: (name) => {
      const d = join(dir, name);
      if (!names.includes(name)) throw new Error(`no mesh identity "${name}" in ${dir}`);
      return { name, ca: readFileSync(join(d, 'ca.crt')), cert: readFileSync(join(d, 'tls.crt')), key: readFileSync(join(d, 'tls.key')) };
    },
  };
}

/** True if every identity's certificate exists, was issued by ca.crt and stays valid for another `marginDays`. */
function usable(dir: string, names: readonly string[], marginDays: number, keyMode: number): boolean {
  try {
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    for (const name of names) {
      const c = new X509Certificate(readFileSync(join(dir, name, 'tls.crt')));
      if (!c.checkIssued(ca) || Date.parse(c.validTo) < Date.now() + marginDays * DAY) return false;
      const key = join(dir, name, 'tls.key');
      if (!existsSync(key) || (statSync(key).mode & keyMode) !== keyMode) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Runs `fn` holding `<path>.lock` (O_EXCL; a lock older than 60 s is taken as abandoned). */
function withLock<T>(path: string, fn: () => T): T {
  const lock = `${path}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  const t0 = Date.now();
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 60_000) unlinkSync(lock);
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() - t0 > 120_000) throw new Error(`${lock}: held for over 2 minutes`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * The PKI at `dir` if it covers `names` and is valid for a day more, else a fresh one (under a lock, so that
 * processes starting together agree on one CA).
 */
export function ensurePki(dir: string, names: readonly string[], opts: { days?: number; keyMode?: number } = {}): Pki {
  if (usable(dir, names, 1, opts.keyMode ?? 0o600)) return openPki(dir, names);
  return withLock(dir, () => (usable(dir, names, 1, opts.keyMode ?? 0o600) ? openPki(dir, names) : createPki(dir, names, opts)));
}

/** Identities tests use besides the mesh's own: a client of no service, and names the kit tests serve. */
export const TEST_NAMES = [...MESH_NAMES, 'stranger', 'testing'] as const;

let shared: Pki | undefined;
/**
 * The PKI every test process shares (<repo>/.run/pki/test; made once, reused while valid): one identity per
 * mesh service plus `stranger` (a valid certificate that no service admits) and `testing`.
 */
export function testPki(): Pki {
  shared ??= ensurePki(join(repoRoot(), '.run', 'pki', 'test'), TEST_NAMES);
  return shared;
}
