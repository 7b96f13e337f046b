// Where a send's time goes: the histograms every process exports on /metrics (per-step times of the message
// service's sequencer, gRPC handling time by method, the gateway's request time by op, fan-out time), read
// before and after a run and differenced, so the table covers that run only.
export interface MetricsTarget {
  name: string;
  url: string;
}

type Hist = { buckets: Map<number, number>; sum: number; count: number };
type Snapshot = Map<string, Hist>;

const LINE = /^([a-z_]+)_(bucket|sum|count)(?:\{(.*)\})? ([0-9.eE+-]+|\+Inf|NaN)$/;

function parse(text: string): Snapshot {
  const out: Snapshot = new Map();
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const [, base, part, labelText = '', value] = m;
    let le: number | undefined;
    const labels = labelText
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter((l) => l)
      .filter((l) => {
        if (l.startsWith('le=')) {
          const v = l.slice(4, -1);
          le = v === '+Inf' ? Number.POSITIVE_INFINITY : Number(v);
          return false;
        }
        return true;
      })
      .join(',');
    const key = labels ? `${base}{${labels}}` : base!;
    let h = out.get(key);
    if (!h) out.set(key, (h = { buckets: new Map(), sum: 0, count: 0 }));
    const n = Number(value);
    if (part === 'bucket' && le !== undefined) h.buckets.set(le, n);
    else if (part === 'sum') h.sum = n;
    else if (part === 'count') h.count = n;
  }
  return out;
}

export async function scrape(targets: MetricsTarget[]): Promise<Map<string, Snapshot>> {
  const all = new Map<string, Snapshot>();
  await Promise.all(
    targets.map(async (t) => {
      try {
        const res = await fetch(t.url, { signal: AbortSignal.timeout(5000) });
        if (res.ok) all.set(t.name, parse(await res.text()));
      } catch {
        /* a process that does not answer is left out */
      }
    }),
  );
  return all;
}

function quantile(h: Hist, q: number): number {
  const les = [...h.buckets.keys()].sort((a, b) => a - b);
  const want = q * h.count;
  let prevLe = 0;
  let prevN = 0;
  for (const le of les) {
    const n = h.buckets.get(le)!;
    if (n >= want) {
      if (!Number.isFinite(le)) return prevLe;
      const inBucket = n - prevN;
      return inBucket > 0 ? prevLe + ((le - prevLe) * (want - prevN)) / inBucket : le;
    }
    prevLe = le;
    prevN = n;
  }
  return prevLe;
}

/** A markdown table of every histogram that moved by ≥ `minCount` observations between the two scrapes. */
export function stagesTable(before: Map<string, Snapshot>, after: Map<string, Snapshot>, minCount = 10): string {
  const rows: string[] = [];
  for (const [proc, snap] of after) {
    for (const [key, h] of snap) {
      const b = before.get(proc)?.get(key);
      const d: Hist = { buckets: new Map(), sum: h.sum - (b?.sum ?? 0), count: h.count - (b?.count ?? 0) };
      for (const [le, n] of h.buckets) d.buckets.set(le, n - (b?.buckets.get(le) ?? 0));
      if (d.count < minCount) continue;
      const seconds = key.includes('_seconds');
      const fmt = (v: number) => (seconds ? `${(v * 1000).toFixed(1)} ms` : v.toFixed(1));
      rows.push(`| ${proc} | \`${key}\` | ${d.count} | ${fmt(d.sum / d.count)} | ${fmt(quantile(d, 0.5))} | ${fmt(quantile(d, 0.99))} |`);
    }
  }
  rows.sort();
  return ['| process | histogram | count | mean | p50 | p99 |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}
