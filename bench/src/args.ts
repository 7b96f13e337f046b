// Command line of `./parley bench` (see bench/README.md).

export type Scenario = 'oneone' | 'ramp' | 'group' | 'media' | 'push' | 'presence' | 'receipts' | 'conns';

export interface BenchArgs {
  scenarios: Scenario[];
  /** Offered rate of scenario oneone (messages/s). */
  rate: number;
  /** Seconds of scenario oneone. */
  duration: number;
  /** Sender/receiver pairs (1:1 chats). */
  pairs: number;
  /** Load-generator worker processes for oneone/ramp. */
  workers: number;
  /** Ramp: first rate, multiplicative step, seconds per step, upper bound. */
  rampStart: number;
  rampFactor: number;
  rampStepSeconds: number;
  rampMax: number;
  /** Group scenario: members, messages, gap between messages (ms). */
  groupSize: number;
  groupMessages: number;
  groupIntervalMs: number;
  /** Group members do not ack (isolates the ack path's cost). */
  groupNoAck: boolean;
  /** 0: each member acks like the reference web client (100 ms after its first unacked message); N: every member at once every N ms. */
  groupAckIntervalMs: number;
  /** Gateway base URLs (http://host:port); empty = start a mesh. */
  targets: string[];
  /** Directory for result files. */
  out: string;
  /** Seconds to wait for late deliveries after a run. */
  grace: number;
  /** Suffix of the result file names (`<date>-<scenario>-<tag>.md`). */
  tag: string;
  /** Media scenario: file sizes (MiB), concurrent uploads, files per cell. */
  mediaSizesMiB: number[];
  mediaConcurrency: number[];
  mediaCount: number;
  pushRates: number[];
  pushPlatforms: Array<'webhook' | 'webpush'>;
  pushDuration: number;
  pushPairs: number;
  /** Presence scenario: churning devices, watchers, devices connecting at once. */
  presenceDevices: number;
  presenceWatchers: number;
  presenceConcurrency: number;
  presenceWorkers: number;
  presenceHoldMs: number;
  presenceCycles: number;
  presenceMaxS: number;
  presenceWatcherAccounts: number;
  presenceRates: number[];
  presenceFanout: number;
  presenceGraceMs: number;
  /** Receipts scenario: group size (with the sender), messages. */
  receiptsGroupSize: number;
  receiptsMessages: number;
  pushDirect: boolean;
  /** Scenario conns: connections, generator processes, upgrades in flight, device tokens. */
  conns: number;
  connWorkers: number;
  /** Seconds the connections sit idle before the first RSS read. */
  connIdleS: number;
  connConcurrency: number;
  connDevices: number;
}

const HELP = `usage: ./parley bench [--scenario all|oneone|ramp|group[,..]] [--rate 1000] [--duration 20] [--pairs 100]
       [--workers 2] [--ramp-start 10] [--ramp-factor 1.5] [--ramp-step 10] [--ramp-max 5000]
       [--group-size 1024] [--group-messages 20] [--group-interval 500] [--group-no-ack] [--group-ack-interval 0 (0: like the web client, 100 ms after receipt; N: all members together every N ms)]
       [--media-sizes 1,20] [--media-concurrency 1,4] [--media-count 16]
       [--push-rates 50,150] [--push-platforms webhook,webpush] [--push-duration 15] [--push-pairs 50] [--push-direct]
       [--presence-devices 10000] [--presence-watchers 1000 (subscriber connections)] [--presence-watcher-accounts N (default: one per subscriber)]
       [--presence-rate 100[,200…] (connects/s, all workers; one churn per rate)] [--presence-fanout 1 (subscribers per device)] [--presence-concurrency 500 (devices in flight per worker)]
       [--presence-workers 2] [--presence-hold 500 (ms)] [--presence-cycles 1] [--presence-max-s 0] [--presence-grace-ms 2000 (the mesh's PRESENCE_GRACE_MS)]
       [--receipts-group-size 1024] [--receipts-messages 5]
       [--conns 20000] [--conn-workers 4] [--conn-concurrency 400] [--conn-devices 200] [--conn-idle 60 (s idle before the first RSS read: V8 gives memory back after ~1 min)]  (scenario conns: not in "all")
       [--targets http://127.0.0.1:8080,http://127.0.0.1:8081] [--out bench/results] [--grace 10] [--tag name]
The media, push, presence and receipts scenarios run only when named (--scenario media, --scenario push, …); "all" keeps its meaning (ramp, group, oneone).
Without --targets the bench starts its own mesh (all services, two gateways, a fresh keyspace).`;

export function parseArgs(argv: string[]): BenchArgs {
  const a: BenchArgs = {
    scenarios: ['oneone', 'ramp', 'group'],
    rate: 1000,
    duration: 20,
    pairs: 100,
    workers: 2,
    rampStart: 10,
    rampFactor: 1.5,
    rampStepSeconds: 10,
    rampMax: 5000,
    groupSize: 1024,
    groupMessages: 20,
    groupIntervalMs: 500,
    groupNoAck: false,
    groupAckIntervalMs: 0,
    targets: [],
    out: 'bench/results',
    grace: 10,
    tag: '',
    mediaSizesMiB: [1, 20],
    mediaConcurrency: [1, 4],
    mediaCount: 16,
    pushRates: [50, 150],
    pushPlatforms: ['webhook', 'webpush'],
    pushDuration: 15,
    pushPairs: 50,
    presenceDevices: 10_000,
    presenceWatchers: 1000,
    presenceConcurrency: 500,
    presenceWorkers: 2,
    presenceHoldMs: 500,
    presenceCycles: 1,
    presenceMaxS: 0,
    presenceWatcherAccounts: 0,
    presenceRates: [100],
    presenceFanout: 1,
    presenceGraceMs: 2000,
    receiptsGroupSize: 1024,
    receiptsMessages: 5,
    pushDirect: false,
    conns: 20_000,
    connWorkers: 4,
    connIdleS: 60,
    connConcurrency: 400,
    connDevices: 200,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value\n${HELP}`);
      return x;
    };
    const num = () => {
      const x = Number(v());
      if (!Number.isFinite(x) || x < 0 || (x === 0 && k !== "--group-ack-interval")) throw new Error(`${k} needs a positive number`);
      return x;
    };
    switch (k) {
      case '--scenario': {
        const s = v();
        a.scenarios = s === 'all' ? ['oneone', 'ramp', 'group'] : (s.split(',') as Scenario[]);
        for (const x of a.scenarios) if (!['oneone', 'ramp', 'group', 'media', 'push', 'presence', 'receipts', 'conns'].includes(x)) throw new Error(`unknown scenario ${x}\n${HELP}`);
        break;
      }
      case '--rate': a.rate = num(); break;
      case '--duration': a.duration = num(); break;
      case '--pairs': a.pairs = Math.floor(num()); break;
      case '--workers': a.workers = Math.floor(num()); break;
      case '--ramp-start': a.rampStart = num(); break;
      case '--ramp-factor': a.rampFactor = num(); break;
      case '--ramp-step': a.rampStepSeconds = num(); break;
      case '--ramp-max': a.rampMax = num(); break;
      case '--group-size': a.groupSize = Math.floor(num()); break;
      case '--group-messages': a.groupMessages = Math.floor(num()); break;
      case '--group-interval': a.groupIntervalMs = num(); break;
      case '--group-no-ack': a.groupNoAck = true; break;
      case '--group-ack-interval': a.groupAckIntervalMs = Math.max(0, Math.floor(num())); break;
      case '--targets': a.targets = v().split(',').filter(Boolean); break;
      case '--out': a.out = v(); break;
      case '--grace': a.grace = num(); break;
      case '--media-sizes': a.mediaSizesMiB = v().split(',').map(Number).filter((x) => x > 0); break;
      case '--media-concurrency': a.mediaConcurrency = v().split(',').map(Number).filter((x) => x > 0); break;
      case '--media-count': a.mediaCount = Math.floor(num()); break;
      case '--push-rates': a.pushRates = v().split(',').map(Number).filter((x) => x > 0); break;
      case '--push-platforms': a.pushPlatforms = v().split(',').filter((x): x is 'webhook' | 'webpush' => x === 'webhook' || x === 'webpush'); break;
      case '--push-duration': a.pushDuration = num(); break;
      case '--push-pairs': a.pushPairs = Math.floor(num()); break;
      case '--presence-devices': a.presenceDevices = Math.floor(num()); break;
      case '--presence-watchers': a.presenceWatchers = Math.floor(num()); break;
      case '--presence-concurrency': a.presenceConcurrency = Math.floor(num()); break;
      case '--presence-workers': a.presenceWorkers = Math.max(1, Math.floor(num())); break;
      case '--presence-hold': a.presenceHoldMs = Math.max(0, Math.floor(num())); break;
      case '--presence-cycles': a.presenceCycles = Math.max(1, Math.floor(num())); break;
      case '--presence-max-s': a.presenceMaxS = Math.max(0, num()); break;
      case '--presence-rate': a.presenceRates = v().split(',').map(Number).filter((x) => x > 0); break;
      case '--presence-fanout': a.presenceFanout = Math.max(1, Math.floor(num())); break;
      case '--presence-grace-ms': a.presenceGraceMs = Math.max(0, Math.floor(num())); break;
      case '--presence-watcher-accounts': a.presenceWatcherAccounts = Math.max(1, Math.floor(num())); break;
      case '--receipts-group-size': a.receiptsGroupSize = Math.floor(num()); break;
      case '--receipts-messages': a.receiptsMessages = Math.floor(num()); break;
      case '--push-direct': a.pushDirect = true; break;
      case '--conns': a.conns = Math.floor(num()); break;
      case '--conn-workers': a.connWorkers = Math.floor(num()); break;
      case '--conn-idle': a.connIdleS = Math.floor(num()); break;
      case '--conn-concurrency': a.connConcurrency = Math.floor(num()); break;
      case '--conn-devices': a.connDevices = Math.floor(num()); break;
      case '--tag': a.tag = v().replace(/[^a-z0-9-]/gi, ''); break;
      case '-h': case '--help': console.log(HELP); process.exit(0); break;
      default: throw new Error(`unknown argument ${k}\n${HELP}`);
    }
  }
  return a;
}
