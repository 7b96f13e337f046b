// Signing-key rotation, decided without I/O. A key signs while it is current; after a rotation it stays
// published until every token it signed has expired, so a rotation never logs anyone out.

export interface KeyRecord {
  kid: string;
  alg: string;
  privateJwk: string;
  publicJwk: string;
  createdAt: number;
}

export interface KeyPointer {
  kid: string;
  previousKid?: string | undefined;
  rotatedAt: number;
}

export const CLOCK_SKEW_MS = 60_000;

export function needsRotation(pointer: KeyPointer | undefined, keys: Map<string, KeyRecord>, now: number, rotationMs: number): boolean {
  if (!pointer || !keys.has(pointer.kid)) return true;
  return now - pointer.rotatedAt >= rotationMs;
}

/**
 * The keys verifiers must accept now: the current one, the previous one until its last token expired,
 * and any key created recently enough to have been current within one access-token lifetime.
 */
export function publishedKeys(
  keys: Map<string, KeyRecord>,
  pointer: KeyPointer | undefined,
  now: number,
  rotationMs: number,
  accessTtlMs: number,
): { key: KeyRecord; notAfter: number }[] {
  const out = new Map<string, { key: KeyRecord; notAfter: number }>();
  const window = accessTtlMs + CLOCK_SKEW_MS;
  if (pointer) {
    const cur = keys.get(pointer.kid);
    if (cur) out.set(cur.kid, { key: cur, notAfter: 0 });
    const prev = pointer.previousKid ? keys.get(pointer.previousKid) : undefined;
    if (prev && !out.has(prev.kid) && pointer.rotatedAt + window > now) out.set(prev.kid, { key: prev, notAfter: pointer.rotatedAt + window });
  }
  for (const k of keys.values()) {
    if (out.has(k.kid)) continue;
    const lastPossiblyCurrent = k.createdAt + rotationMs;
    if (lastPossiblyCurrent + window > now) out.set(k.kid, { key: k, notAfter: lastPossiblyCurrent + window });
  }
  return [...out.values()];
}
