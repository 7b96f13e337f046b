// Signing-key rotation, decided without I/O. A key signs while it is current; after a rotation it stays
// published until every token it signed has expired, so a rotation never logs anyone out.

export interface KeyRecord {
  kid: string;
  alg: string;
  /** The private JWK as stored: sealed (`enc1:…`) when a signing-key secret is configured. */
  privateJwk: string;
  publicJwk: string;
  createdAt: number;
}

export interface KeyPointer {
  kid: string;
  previousKid?: string | undefined;
  rotatedAt: number;
}

/** Tolerated clock difference between the session replicas and the verifying gateways. */
export const CLOCK_SKEW_MS = 60_000;
/** How often a replica re-reads the key ring (and rotates when due). */
export const KEY_RELOAD_MS = 60_000;
/** A replica never signs with a ring older than this: it re-reads first (or refuses to sign). */
export const MAX_SIGNER_STALENESS_MS = 2 * KEY_RELOAD_MS;

/**
 * How long after a key stopped being current a token signed by it may still be valid: its lifetime, plus
 * the time a replica may go on signing with a ring it has not re-read yet, plus clock skew.
 */
export function retirementWindowMs(accessTtlMs: number): number {
  return accessTtlMs + MAX_SIGNER_STALENESS_MS + CLOCK_SKEW_MS;
}

export function needsRotation(pointer: KeyPointer | undefined, keys: Map<string, KeyRecord>, now: number, rotationMs: number): boolean {
  if (!pointer || !keys.has(pointer.kid)) return true;
  return now - pointer.rotatedAt >= rotationMs;
}

/**
 * The keys verifiers must accept now, each with the time its tokens stop being valid (0 = current key):
 * the current one, the previous one until its last token expired, and any key created recently enough to
 * have been current within one retirement window (a replica that lost a rotation race may have signed
 * with its own key for an instant; a third rotation inside one window keeps the one before last).
 */
export function publishedKeys(
  keys: Map<string, KeyRecord>,
  pointer: KeyPointer | undefined,
  now: number,
  rotationMs: number,
  accessTtlMs: number,
): { key: KeyRecord; notAfter: number }[] {
  const out = new Map<string, { key: KeyRecord; notAfter: number }>();
  const window = retirementWindowMs(accessTtlMs);
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

/**
 * Keys that can be deleted: not current, not previous, and past any window in which a token they signed
 * could still be valid (with a day of margin, so a replica with a wildly wrong clock cannot delete a key in use).
 */
export function prunableKeys(keys: Map<string, KeyRecord>, pointer: KeyPointer | undefined, now: number, rotationMs: number, accessTtlMs: number): string[] {
  if (!pointer || !keys.has(pointer.kid)) return [];
  const published = new Set(publishedKeys(keys, pointer, now, rotationMs, accessTtlMs).map((k) => k.key.kid));
  const margin = 86_400_000;
  const out: string[] = [];
  for (const k of keys.values()) {
    if (published.has(k.kid) || k.kid === pointer.kid || k.kid === pointer.previousKid) continue;
    if (k.createdAt + rotationMs + retirementWindowMs(accessTtlMs) + margin < now) out.push(k.kid);
  }
  return out;
}
