// Scenario "conns": idle authenticated connections on ONE gateway. Opens --conns WebSockets from
// --conn-workers processes (the fd limit is per process), --conn-concurrency upgrades in flight in all,
// each authenticated with one of a few hundred device tokens (a device may hold several sockets), waits
// for every `session.ready`, then reads the gateway's resident memory. Reports upgrades/s and RSS per
// connection ((RSS with N open − RSS before) / N).
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CpuSnapshot } from './cpu.js';

export interface ConnsResult {
  target: number;
  opened: number;
  failed: number;
  seconds: number;
  upgradesPerS: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  perConnKiB: number;
  /** RSS with all open after a full GC of the gateway (SIGUSR2: the bench starts its mesh with --expose-gc). */
  rssAfterGcKiB: number;
  perConnAfterGcKiB: number;
  errors: Record<string, number>;
  /** CPU ms per process over the opening phase (first upgrade → last session.ready), when `cpu` was given. */
  cpuOpen?: Map<string, number>;
  /** The closing phase: every client closes its sockets; until gateway-0 holds none, plus 2 s for the unregisters. */
  closeSeconds?: number;
  cpuClose?: Map<string, number>;
  /** Where the RSS per connection (after full GC) is, in KiB per connection, from gateway-0's /metrics. */
  parts?: { heapTotal: number; heapUsed: number; external: number; rest: number };
}

type MemParts = { rss: number; heapTotal: number; heapUsed: number; external: number };

/** Undefined when /metrics does not answer (a gateway at its fd limit refuses the connection). */
async function memParts(pid: number, metricsUrl: string): Promise<MemParts | undefined> {
  let text: string;
  try {
    text = await (await fetch(metricsUrl)).text();
  } catch {
    return undefined;
  }
  const v = (name: string) => metricValue(text, name);
  return { rss: rssKiB(pid) * 1024, heapTotal: v('nodejs_heap_size_total_bytes'), heapUsed: v('nodejs_heap_size_used_bytes'), external: v('nodejs_external_memory_bytes') };
}

/** The first sample of `name` in a Prometheus text page (NaN if absent). */
function metricValue(text: string, name: string): number {
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text)?.[1] ?? NaN);
}

async function connectionsHeld(metricsUrl: string): Promise<number | undefined> {
  try {
    const n = metricValue(await (await fetch(metricsUrl)).text(), 'parley_gateway_connections');
    return Number.isNaN(n) ? undefined : n;
  } catch {
    return undefined;
  }
}

export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** A full GC in the gateway: with --expose-gc its SIGUSR2 handler runs gc() (services/gateway/src/main.ts). */
async function fullGc(pid: number): Promise<void> {
  process.kill(pid, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 2000));
}

type Reply = { type: 'opened'; opened: number; failed: number; errors: Record<string, number> } | { type: 'closed' } | { type: 'error'; message: string };

function ask(c: ChildProcess, msg: unknown, want: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const on = (m: Reply) => {
      if (m.type === 'error') {
        c.off('message', on);
        reject(new Error(m.message));
      } else if (m.type === want) {
        c.off('message', on);
        resolve(m);
      }
    };
    c.on('message', on);
    c.send(msg as never);
  });
}

export async function runConns(o: {
  wsUrl: string;
  gatewayPid: number;
  tokens: string[];
  conns: number;
  workers: number;
  concurrency: number;
  /** Seconds all connections sit idle before the first RSS read (default 60: V8's memory reducer runs within it). */
  idleS?: number;
  log: (s: string) => void;
  /** gateway-0's /metrics (for the V8 heap and external memory beside the RSS). */
  metricsUrl?: string;
  /** Per-process CPU counters (bench/src/cpu.ts), read around the opening phase. */
  cpu?: { snapshot(): CpuSnapshot; diff(a: CpuSnapshot, b: CpuSnapshot): Map<string, number> };
}): Promise<ConnsResult> {
  const script = fileURLToPath(new URL('./conn-worker.js', import.meta.url));
  const children = Array.from({ length: o.workers }, () => fork(script, [], { stdio: 'inherit', execArgv: ['--max-old-space-size=4096'] }));
  await new Promise((r) => setTimeout(r, 1000));
  await fullGc(o.gatewayPid);
  const before = rssKiB(o.gatewayPid);
  const partsBefore = o.metricsUrl ? await memParts(o.gatewayPid, o.metricsUrl) : undefined;
  const cpuBefore = o.cpu?.snapshot();
  const t0 = performance.now();
  const per = Math.ceil(o.conns / o.workers);
  const replies = await Promise.all(
    children.map((c, w) =>
      ask(c, { type: 'open', wsUrl: o.wsUrl, tokens: o.tokens, count: Math.min(per, o.conns - w * per), concurrency: Math.max(1, Math.floor(o.concurrency / o.workers)) }, 'opened'),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpuOpen = o.cpu && cpuBefore ? o.cpu.diff(cpuBefore, o.cpu.snapshot()) : undefined;
  const opened = replies.reduce((n, r) => n + (r.type === 'opened' ? r.opened : 0), 0);
  const failed = replies.reduce((n, r) => n + (r.type === 'opened' ? r.failed : 0), 0);
  const errors: Record<string, number> = {};
  for (const r of replies) if (r.type === 'opened') for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const idleS = o.idleS ?? 60;
  o.log(`conns: ${opened} open (${failed} failed) in ${seconds.toFixed(1)} s; settling ${idleS} s before reading RSS`);
  await new Promise((r) => setTimeout(r, idleS * 1000));
  const after = rssKiB(o.gatewayPid);
  await fullGc(o.gatewayPid);
  const afterGc = rssKiB(o.gatewayPid);
  const partsAfter = o.metricsUrl ? await memParts(o.gatewayPid, o.metricsUrl) : undefined;
  const perConnOf = (k: keyof MemParts) => (partsAfter && partsBefore && opened ? (partsAfter[k] - partsBefore[k]) / 1024 / opened : NaN);
  const parts = partsAfter && partsBefore ? { heapTotal: perConnOf('heapTotal'), heapUsed: perConnOf('heapUsed'), external: perConnOf('external'), rest: perConnOf('rss') - perConnOf('heapTotal') - perConnOf('external') } : undefined;
  const cpuBeforeClose = o.cpu?.snapshot();
  const tClose = performance.now();
  await Promise.all(children.map((c) => ask(c, { type: 'close' }, 'closed')));
  let closeSeconds: number | undefined;
  if (o.metricsUrl) {
    for (let i = 0; i < 600; i++) {
      const held = await connectionsHeld(o.metricsUrl);
      if (held === 0) {
        closeSeconds = (performance.now() - tClose) / 1000;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  const cpuClose = o.cpu && cpuBeforeClose && closeSeconds !== undefined ? o.cpu.diff(cpuBeforeClose, o.cpu.snapshot()) : undefined;
  for (const c of children) c.kill();
  return {
    target: o.conns,
    opened,
    failed,
    seconds,
    upgradesPerS: opened / seconds,
    rssBeforeKiB: before,
    rssAfterKiB: after,
    perConnKiB: opened ? (after - before) / opened : NaN,
    rssAfterGcKiB: afterGc,
    perConnAfterGcKiB: opened ? (afterGc - before) / opened : NaN,
    errors,
    ...(cpuOpen ? { cpuOpen } : {}),
    ...(cpuClose && closeSeconds !== undefined ? { cpuClose, closeSeconds } : {}),
    ...(parts ? { parts } : {}),
  };
}
