// Bounded partitions: the log of a chat is split into buckets of `size` consecutive seqs,
// partition key (chat_id, bucket = floor(seq / size)). Seqs start at 1, so bucket 0 holds 1..size-1.

export function bucketOf(seq: bigint, size: bigint): bigint {
  return seq / size;
}

/** The last seq that belongs to `bucket`. */
export function bucketEnd(bucket: bigint, size: bigint): bigint {
  return (bucket + 1n) * size - 1n;
}

/** Splits the ascending, consecutive seqs `from..to` (inclusive) into per-bucket ranges. */
export function bucketRanges(from: bigint, to: bigint, size: bigint): Array<{ bucket: bigint; from: bigint; to: bigint }> {
  const out: Array<{ bucket: bigint; from: bigint; to: bigint }> = [];
  let cur = from;
  while (cur <= to) {
    const b = bucketOf(cur, size);
    const end = bucketEnd(b, size) < to ? bucketEnd(b, size) : to;
    out.push({ bucket: b, from: cur, to: end });
    cur = end + 1n;
  }
  return out;
}
