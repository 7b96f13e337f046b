// Reads a Prometheus histogram from a service's /metrics, so a scenario can say where time went inside a
// service (bucket counts before and after a run; quantiles are the upper bound of the bucket they fall in).
export type Buckets = Map<string, Map<number, number>>; // label value → le → cumulative count

export async function scrapeHistogram(url: string, name: string, label: string): Promise<Buckets> {
  const text = await (await fetch(url)).text();
  const out: Buckets = new Map();
  const re = new RegExp(`^${name}_bucket\\{([^}]*)\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    const key = labels[label] ?? '';
    const le = labels['le'] === '+Inf' ? Infinity : Number(labels['le']);
    let b = out.get(key);
    if (!b) out.set(key, (b = new Map()));
    b.set(le, Number(m[2]));
  }
  return out;
}

/** count, p50 and p99 upper bounds (seconds) of after − before, per label value. */
export function histDelta(before: Buckets, after: Buckets): Map<string, { count: number; p50: number; p99: number }> {
  const out = new Map<string, { count: number; p50: number; p99: number }>();
  for (const [k, b] of after) {
    const les = [...b.keys()].sort((x, y) => x - y);
    const d = les.map((le) => (b.get(le) ?? 0) - (before.get(k)?.get(le) ?? 0));
    const count = d[d.length - 1] ?? 0;
    const q = (p: number) => les[d.findIndex((c) => c >= p * count)] ?? Infinity;
    out.set(k, { count, p50: q(0.5), p99: q(0.99) });
  }
  return out;
}
