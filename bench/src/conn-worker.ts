// A worker of scenario "conns" (conns.ts): opens its share of idle authenticated connections and holds them.
import { connect, type ParleyConnection } from '@parley/client';
import { mapLimit } from '@parley/kit';

const open: ParleyConnection[] = [];
type Msg = { type: 'open'; wsUrl: string; tokens: string[]; count: number; concurrency: number } | { type: 'close' };

process.on('message', (m: Msg) => {
  void (async () => {
    try {
      if (m.type === 'open') {
        let failed = 0;
        const errors: Record<string, number> = {};
        await mapLimit(Array.from({ length: m.count }, (_, i) => i), m.concurrency, async (i) => {
          try {
            open.push(await connect(m.wsUrl, m.tokens[i % m.tokens.length]!, { timeoutMs: 60_000, recordEvents: false }));
          } catch (err) {
            failed += 1;
            const k = (err as { code?: string }).code ?? (err instanceof Error ? err.message.slice(0, 40) : 'error');
            errors[k] = (errors[k] ?? 0) + 1;
          }
        });
        process.send!({ type: 'opened', opened: open.length, failed, errors });
      } else {
        await Promise.all(open.map((c) => c.close().catch(() => {})));
        open.length = 0;
        process.send!({ type: 'closed' });
      }
    } catch (err) {
      process.send!({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  })();
});
