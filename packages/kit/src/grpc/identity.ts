// Service identity on the internal gRPC mesh (issue 15): mutual TLS under one mesh CA. Every server demands a
// client certificate signed by the CA and admits only the callers MESH_CALLS lists for it; every client
// presents its own certificate and checks that the server's is the service it meant to call. The identity
// is the certificate's subject CN (also a DNS SAN), e.g. `session`. There is no plaintext mode.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';

/**
 * Who calls whom on the mesh. A server admits exactly the identities whose list names it (message also
 * admits message: its replicas forward sends to the holder of a chat's sequencer shard). The chart's
 * NetworkPolicies are the same graph (charts/test/mesh-identity.test.ts compares them).
 */
export const MESH_CALLS: Readonly<Record<string, readonly string[]>> = {
  gateway: ['session', 'group', 'message', 'presence', 'media', 'push'],
  group: ['message', 'session'],
  media: ['group'],
  message: ['group', 'session', 'media', 'message'],
  presence: ['session', 'group', 'message'],
  push: ['session'],
  session: [],
};

/** Every identity the mesh knows (the gateways and the six gRPC services). */
export const MESH_IDENTITIES: readonly string[] = Object.keys(MESH_CALLS).sort();

/** The identities allowed to call `service` (sorted). */
export function callersOf(service: string): string[] {
  return Object.entries(MESH_CALLS)
    .filter(([, calls]) => calls.includes(service))
    .map(([caller]) => caller)
    .sort();
}

/** The environment variable naming the directory with `ca.crt`, `tls.crt`, `tls.key` (a kubernetes.io/tls Secret). */
export const MESH_TLS_DIR_ENV = 'PARLEY_MESH_TLS_DIR';

export interface MeshIdentity {
  /** The certificate's subject CN: a key of MESH_CALLS for the real services. */
  name: string;
  /** PEM: the mesh CA (trust anchor for peers), this process's certificate and its private key. */
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export class MeshIdentityError extends Error {
  override name = 'MeshIdentityError';
}

/** The subject CN of a certificate in Node's `subject` text form (`CN=session\nO=parley`). */
function cnOf(subject: string): string | undefined {
  for (const line of subject.split('\n')) {
    const m = /^CN=(.+)$/.exec(line.trim());
    if (m) return m[1];
  }
  return undefined;
}

/** The identity a verified peer certificate carries (its subject CN), or undefined. */
export function identityOfPeer(cert: PeerCertificate | undefined | null): string | undefined {
  const cn = cert?.subject?.CN;
  if (Array.isArray(cn)) return undefined; // several CNs: ambiguous, never an identity
  return typeof cn === 'string' && cn.length > 0 ? cn : undefined;
}

/**
 * Builds an identity from PEM material, refusing a certificate that the CA did not issue, that is expired or
 * not yet valid, or whose key does not match it, so that a broken Secret fails the process at start.
 */
export function meshIdentity(material: { ca: Buffer | string; cert: Buffer | string; key: Buffer | string }, where = 'mesh identity'): MeshIdentity {
  const ca = Buffer.from(material.ca);
  const cert = Buffer.from(material.cert);
  const key = Buffer.from(material.key);
  let caX: X509Certificate;
  let certX: X509Certificate;
  try {
    caX = new X509Certificate(ca);
    certX = new X509Certificate(cert);
  } catch (err) {
    throw new MeshIdentityError(`${where}: not a PEM certificate (${(err as Error).message})`);
  }
  if (!certX.checkIssued(caX) || !certX.verify(caX.publicKey)) throw new MeshIdentityError(`${where}: tls.crt is not signed by ca.crt`);
  const now = Date.now();
  if (Date.parse(certX.validTo) < now) throw new MeshIdentityError(`${where}: tls.crt expired on ${certX.validTo}`);
  if (Date.parse(certX.validFrom) > now + 5 * 60_000) throw new MeshIdentityError(`${where}: tls.crt is not valid before ${certX.validFrom}`);
  try {
    if (!certX.checkPrivateKey(createPrivateKey(key))) throw new MeshIdentityError(`${where}: tls.key does not belong to tls.crt`);
  } catch (err) {
    if (err instanceof MeshIdentityError) throw err;
    throw new MeshIdentityError(`${where}: tls.key is not a private key (${(err as Error).message})`);
  }
  const name = cnOf(certX.subject);
  if (!name) throw new MeshIdentityError(`${where}: tls.crt has no subject CN (the service identity)`);
  return { name, ca, cert, key };
}

/** Reads `ca.crt`, `tls.crt` and `tls.key` from a directory (a mounted kubernetes.io/tls Secret, or .run/pki/...). */
export function loadMeshIdentity(dir: string): MeshIdentity {
  const read = (f: string): Buffer => {
    try {
      return readFileSync(join(dir, f));
    } catch (err) {
      throw new MeshIdentityError(`${MESH_TLS_DIR_ENV}=${dir}: cannot read ${f} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  return meshIdentity({ ca: read('ca.crt'), cert: read('tls.crt'), key: read('tls.key') }, `${MESH_TLS_DIR_ENV}=${dir}`);
}

/**
 * The identity of this process: the directory PARLEY_MESH_TLS_DIR names. Missing → a MeshIdentityError, so
 * that a service without an identity fails at start instead of serving (or calling) in the clear.
 */
export function meshIdentityFromEnv(env: NodeJS.ProcessEnv = process.env): MeshIdentity {
  const dir = env[MESH_TLS_DIR_ENV]?.trim();
  if (!dir) {
    throw new MeshIdentityError(
      `${MESH_TLS_DIR_ENV} is not set: every gRPC server and client of the mesh needs its identity (ca.crt, tls.crt, tls.key; docs/operations.md, "Mesh identity")`,
    );
  }
  return loadMeshIdentity(dir);
}

/** The mesh identity a generated service descriptor belongs to: `parley.session.v1.SessionService` → `session`. */
export function serviceIdentityOf(typeName: string): string | undefined {
  const m = /^parley\.([a-z]+)\.v\d+\./.exec(typeName);
  return m && MESH_CALLS[m[1]!] ? m[1] : undefined;
}
