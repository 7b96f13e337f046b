// Per-(device, chat) inbox cursor: the highest contiguous acked seq plus a small set of acked seqs beyond
// a gap. Once the gap fills, the cursor jumps over them. Stored writes are monotonic (see storage), so the
// stored row may lag a concurrent ack; `normalize` recomputes the effective cursor on every read.

export const MAX_PENDING_ACKS = 1000;

export interface CursorState {
  acked: bigint;
  pending: readonly bigint[];
}

/** The effective cursor: `acked` extended by the contiguous run of pending seqs; the rest stay pending. */
export function normalize(state: CursorState): { acked: bigint; pending: bigint[] } {
  let acked = state.acked;
  const rest = [...new Set(state.pending)].filter((s) => s > acked).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const pending: bigint[] = [];
  for (const s of rest) {
    if (s === acked + 1n && pending.length === 0) acked = s;
    else pending.push(s);
  }
  return { acked, pending };
}

export interface AckResult {
  acked: bigint;
  /** Seqs still acked beyond a gap, after this ack. */
  pending: bigint[];
  /** Seqs acked for the first time by this call (ascending). */
  newlyAcked: bigint[];
  /** Pending seqs that the cursor passed (to be removed from the stored set). */
  absorbed: bigint[];
}

/**
 * Applies acks (already filtered to seqs the device may have received) to a cursor.
 * A floor (e.g. joined_seq - 1) lifts a cursor that starts below the member's first visible seq.
 */
export function applyAcks(state: CursorState, seqs: readonly bigint[], floor = 0n): AckResult {
  const before = normalize({ acked: state.acked > floor ? state.acked : floor, pending: state.pending });
  const had = new Set(before.pending);
  const fresh = [...new Set(seqs)].filter((s) => s > before.acked && !had.has(s));
  const room = Math.max(0, MAX_PENDING_ACKS - before.pending.length);
  // Beyond the pending cap, out-of-order acks are dropped (the message is redelivered: at-least-once).
  const sortedFresh = fresh.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const accepted: bigint[] = [];
  let extra = 0;
  let expect = before.acked + 1n;
  const all = new Set([...before.pending]);
  for (const s of sortedFresh) {
    all.add(s);
  }
  // Determine which fresh seqs would be contiguous after merging, to respect the cap only for the rest.
  while (all.has(expect)) expect += 1n;
  for (const s of sortedFresh) {
    if (s < expect) accepted.push(s);
    else if (extra < room) {
      accepted.push(s);
      extra += 1;
    }
  }
  const after = normalize({ acked: before.acked, pending: [...before.pending, ...accepted] });
  const absorbed = before.pending.filter((s) => s <= after.acked);
  return { acked: after.acked, pending: after.pending, newlyAcked: accepted, absorbed };
}
