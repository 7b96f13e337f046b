// A load-generator worker process (forked by run.ts): holds a share of the pairs and runs the 1:1
// schedule at its share of the offered rate when told. Talks to the parent over the IPC channel.
import { PairLoad, type PairCreds } from './pairs.js';

type Msg =
  | { type: 'init'; wsUrls: string[]; pairs: PairCreds[] }
  | { type: 'run'; rate: number; durationS: number; graceS: number }
  | { type: 'exit' };

let load: PairLoad | undefined;
const reply = (m: unknown) => process.send!(m);

process.on('message', (m: Msg) => {
  void (async () => {
    try {
      if (m.type === 'init') {
        load = await PairLoad.setup(m.wsUrls, m.pairs);
        reply({ type: 'ready' });
      } else if (m.type === 'run') {
        const result = await load!.run(m.rate, m.durationS, m.graceS);
        reply({ type: 'result', result });
      } else if (m.type === 'exit') {
        await load?.close();
        process.exit(0);
      }
    } catch (err) {
      reply({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
    }
  })();
});
