// A worker of scenario "presence" (presence.ts): churns its share of the target devices on the paced
// schedule of churn.ts — device i's k-th connect is due at t0 + (k·n + i)/rate — with at most `maxInFlight`
// devices connected or connecting at once (a due connect waits for a slot; the lateness is reported). Each
// device connects, stays `holdMs`, and closes cleanly (code 1000). It reports, in wall-clock ms
// (performance.timeOrigin + now(), the clock every process of the box shares), when each connect was called,
// when its session.ready came, and when its close was called, plus this process's CPU time.
import { connect } from '@parley/client';
import { dueAt } from './churn.js';

type Msg = {
  type: 'churn';
  wsUrls: string[];
  /** [global index, credentials] of this worker's devices */
  targets: [number, { userId: string; accessToken: string }][];
  n: number;
  rate: number;
  t0: number;
  maxInFlight: number;
  holdMs: number;
  cycles: number;
  /** A device's next connect waits at least this long after its previous close returned. */
  gapMs: number;
  /** Wall-clock ms after which no new connect starts (0 = none). */
  deadline: number;
};
/** [global index, cycle, connect called, session.ready, close called] */
export type Sample = [number, number, number, number, number];
const wall = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

process.on('message', (m: Msg) => {
  void (async () => {
    try {
      const cpu0 = process.cpuUsage();
      const samples: Sample[] = [];
      const errors: Record<string, number> = {};
      let failed = 0;
      let late = 0;
      let maxLateMs = 0;
      let inFlight = 0;
      let cut = 0;
      const slotFree: (() => void)[] = [];
      const lastClosed = new Map<number, number>();
      const running = new Set<Promise<void>>();
      const busy = new Map<number, Promise<void>>();
      const plan: [number, number, number, { userId: string; accessToken: string }][] = [];
      for (let k = 0; k < m.cycles; k++) for (const [i, t] of m.targets) plan.push([dueAt(m.t0, m.rate, m.n, i, k), i, k, t]);
      plan.sort((a, b) => a[0] - b[0]);
      for (const [due, i, k, t] of plan) {
        await sleep(due - wall());
        while (inFlight >= m.maxInFlight) await new Promise<void>((r) => slotFree.push(r));
        await busy.get(i); // one connection per device at a time (a slow previous cycle delays this one)
        const prev = lastClosed.get(i);
        if (prev !== undefined) await sleep(prev + m.gapMs - wall());
        if (m.deadline && wall() > m.deadline) {
          cut += 1;
          continue;
        }
        const lag = wall() - due;
        if (lag > 100) late += 1;
        maxLateMs = Math.max(maxLateMs, lag);
        inFlight += 1;
        const p = (async () => {
          const on = wall();
          try {
            const c = await connect(m.wsUrls[(i + k) % m.wsUrls.length]!, t.accessToken, { timeoutMs: 60_000, recordEvents: false, requestTimeoutMs: 30_000 });
            const ready = wall();
            await sleep(m.holdMs);
            const off = wall();
            await c.close(1000);
            lastClosed.set(i, wall());
            samples.push([i, k, on, ready, off]);
          } catch (err) {
            failed += 1;
            lastClosed.set(i, wall());
            const key = (err as { code?: string }).code ?? (err instanceof Error ? err.message.slice(0, 40) : 'error');
            errors[key] = (errors[key] ?? 0) + 1;
          } finally {
            inFlight -= 1;
            slotFree.shift()?.();
          }
        })();
        running.add(p);
        busy.set(i, p);
        void p.finally(() => running.delete(p));
      }
      await Promise.all([...running]);
      const cpu = process.cpuUsage(cpu0);
      process.send!({ type: 'done', samples, failed, errors, late, maxLateMs, cut, cpuMs: (cpu.user + cpu.system) / 1000 });
    } catch (err) {
      process.send!({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  })();
});
