// GC pauses of the two JVMs (Kafka, Cassandra) during a run, from the gc.log each writes (`-Xlog:gc:file=…`
// in infra/parley-infra; the path is read off the process's command line).
import { readFileSync } from 'node:fs';
import type { ProcRef } from './cpu.js';

export interface GcSummary {
  name: string;
  pauses: number;
  totalMs: number;
  maxMs: number;
}

const LINE = /^\[([^\]]+)\]\[[^\]]*\] GC\(\d+\) Pause .* ([0-9.]+)ms$/;

/** Pauses logged between `from` and `to` (ms since the epoch) by each JVM in `procs` that logs them. */
export function gcPauses(procs: ProcRef[], from: number, to: number): GcSummary[] {
  const out: GcSummary[] = [];
  for (const p of procs) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const file = /-Xlog:gc:file="?([^":\0]+)/.exec(cmd)?.[1];
    if (!file) continue;
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const s: GcSummary = { name: p.name, pauses: 0, totalMs: 0, maxMs: 0 };
    for (const line of text.split('\n')) {
      const m = LINE.exec(line.trim());
      if (!m) continue;
      const at = Date.parse(m[1]!.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));
      if (!(at >= from && at <= to)) continue;
      const ms = Number(m[2]);
      s.pauses += 1;
      s.totalMs += ms;
      s.maxMs = Math.max(s.maxMs, ms);
    }
    out.push(s);
  }
  return out;
}

export function gcTable(rows: GcSummary[], seconds: number): string {
  if (rows.length === 0) return '';
  return [
    '| JVM | GC pauses | total pause ms | % of the run paused | longest pause ms |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.name} | ${r.pauses} | ${r.totalMs.toFixed(0)} | ${((100 * r.totalMs) / (seconds * 1000)).toFixed(2)} | ${r.maxMs.toFixed(1)} |`),
  ].join('\n');
}
