// Per-process CPU accounting for the bench: user+system time of every process of the system under test
// (the mesh's services and gateways, and the infra servers found by their command lines), read from
// /proc/<pid>/stat before and after a run. Linux only; elsewhere it reports nothing.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const TICK_MS = 10; // USER_HZ is 100 on Linux

export interface ProcRef {
  name: string;
  pid: number;
}

function cpuMsOf(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after the comm: state(0) ... utime is field 14 overall → index 11 here, stime index 12
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

const INFRA_PATTERNS: [string, RegExp][] = [
  ['cassandra', /org\.apache\.cassandra\.service\.CassandraDaemon/],
  ['kafka', /kafka\.Kafka\b/],
  ['redis', /redis-server/],
  ['minio', /\/minio server/],
];

/** This checkout's root (bench/dist/cpu.js → ../..): `./infra/parley-infra` runs its servers from under it. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

/**
 * The local infra servers' processes, found by command line. When several checkouts run their own servers on
 * one box (each with its ports), only those whose working directory is under `root` (this checkout's) count;
 * if none is, every match does (servers started elsewhere).
 */
export function infraProcs(root: string = ROOT): ProcRef[] {
  const out: (ProcRef & { mine: boolean })[] = [];
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const p of pids) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    for (const [name, re] of INFRA_PATTERNS) {
      if (!re.test(cmd)) continue;
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${p}/cwd`);
      } catch {
        /* gone, or not ours to read */
      }
      out.push({ name, pid: Number(p), mine: cwd === root || cwd.startsWith(root + '/') });
    }
  }
  const mine = out.filter((p) => p.mine);
  return (mine.length ? mine : out).map(({ name, pid }) => ({ name, pid }));
}

export type CpuSnapshot = Map<string, number>;

export function snapshot(procs: ProcRef[]): CpuSnapshot {
  const m: CpuSnapshot = new Map();
  for (const p of procs) {
    const v = cpuMsOf(p.pid);
    if (v !== undefined) m.set(p.name, (m.get(p.name) ?? 0) + v);
  }
  return m;
}

/** CPU ms per process name between two snapshots. */
export function diff(a: CpuSnapshot, b: CpuSnapshot): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of b) out.set(k, v - (a.get(k) ?? 0));
  return out;
}

/** The whole box's CPU time by kind (ms, all cores together), from the first line of /proc/stat. */
export interface BoxCpu {
  user: number;
  system: number;
  irq: number;
  idle: number;
  steal: number;
}

export function boxSnapshot(): BoxCpu | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    return { user: (user + nice) * TICK_MS, system: system * TICK_MS, irq: (irq + softirq) * TICK_MS, idle: (idle + iowait) * TICK_MS, steal: steal * TICK_MS };
  } catch {
    return undefined;
  }
}

/**
 * One line on how busy the whole box was between two /proc/stat readings: busy (user, system, interrupts) and
 * steal (time the hypervisor gave the vCPUs to others: this VM's share of a contended host), as % of all cores.
 */
export function boxLine(a: BoxCpu | undefined, b: BoxCpu | undefined): string {
  if (!a || !b) return '';
  const d = (k: keyof BoxCpu) => b[k] - a[k];
  const total = d('user') + d('system') + d('irq') + d('idle') + d('steal');
  if (total <= 0) return '';
  const pct = (v: number) => `${((100 * v) / total).toFixed(0)} %`;
  return `whole box over the same time (/proc/stat, % of all cores): busy ${pct(d('user') + d('system') + d('irq'))} (user ${pct(d('user'))}, system ${pct(d('system'))}, interrupts ${pct(d('irq'))}), steal ${pct(d('steal'))}, idle ${pct(d('idle'))}`;
}
