// A worker of scenario "presence" (presence.ts): churns its share of the target devices — each connects,
// stays `holdMs`, closes cleanly, `concurrency` at a time — and reports when each was online (its
// `session.ready`) and when its close was called, in wall-clock ms (performance.timeOrigin + now(), so the
// watchers' process can subtract).
import { connect } from '@parley/client';
import { mapLimit } from '@parley/kit';

type Msg = {
  type: 'churn';
  wsUrls: string[];
  targets: { userId: string; accessToken: string }[];
  offset: number;
  concurrency: number;
  holdMs: number;
  /** Passes over the targets (each user's cycles are sequential: one pass after the other). */
  cycles: number;
  /** Wall-clock ms after which no new connect starts (0 = none). */
  deadline: number;
};
const wall = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

process.on('message', (m: Msg) => {
  void (async () => {
    try {
      const samples: [string, number, number, number][] = [];
      const errors: Record<string, number> = {};
      let failed = 0;
      for (let cycle = 0; cycle < m.cycles; cycle++) {
      await mapLimit(m.targets, m.concurrency, async (t, i) => {
        if (m.deadline && wall() > m.deadline) return;
        try {
          const c = await connect(m.wsUrls[(m.offset + i) % m.wsUrls.length]!, t.accessToken, { timeoutMs: 60_000, recordEvents: false, requestTimeoutMs: 30_000 });
          const on = wall();
          await sleep(m.holdMs);
          const off = wall();
          await c.close();
          samples.push([t.userId, cycle, on, off]);
        } catch (err) {
          failed += 1;
          const k = (err as { code?: string }).code ?? (err instanceof Error ? err.message.slice(0, 40) : 'error');
          errors[k] = (errors[k] ?? 0) + 1;
        }
      });
      }
      process.send!({ type: 'done', samples, failed, errors });
    } catch (err) {
      process.send!({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  })();
});
