// `./parley bench`: Parley's load generator (bench/README.md). Starts its own mesh (all services, two
// gateways, cheap password hashing, raised rate limits) unless --targets names running gateways, creates
// the accounts over HTTP, and runs the scenarios:
//   oneone  1:1 chats at a fixed offered rate (open loop), senders on gateway 0, receivers on gateway 1
//   ramp    the same, stepping the rate up until p99 > 1 s, errors > 1 % or acked < 90 % of offered
//   group   one sender in a group of --group-size members, per-recipient fan-out latency
//   presence devices connecting and disconnecting, watched by subscribers: time to the `presence` event
//   receipts one sender in a group where every member acks and reads: receipt frames/bytes per message
// and writes bench/results/<date>-<scenario>.md.
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ParleyHttp, randomUsername } from '@parley/client';
import { mapLimit } from '@parley/kit';
import { LOOSE_AUTH_RATES, startMesh, type Mesh } from '@parley/testing';
import { parseArgs, type BenchArgs } from './args.js';
import { runGroup, type GroupResult } from './group.js';
import { runMediaBench } from './media.js';
import { runPushBench, runPushDirect } from './push.js';
import { runGroupReceipts, runPresenceChurn } from './presence.js';
import { PairLoad, type Creds, type PairCreds, type RunResult } from './pairs.js';
import { machine, table, writeResult } from './report.js';
import { addCounts, ms, summarize } from './stats.js';
import { missing } from './churn.js';
import { boxLine, boxSnapshot, diff, infraProcs, snapshot, type ProcRef } from './cpu.js';
import { scrape, stagesTable, type MetricsTarget } from './stages.js';
import { gcPauses, gcTable } from './gc.js';
import { runConns } from './conns.js';

const log = (s: string) => console.log(`[bench] ${s}`);
/** Between scenarios: let queues (the fan-out's Kafka lag, Cassandra compactions) settle. */
const pause = (s: number) => {
  log(`pause ${s} s`);
  return new Promise((r) => setTimeout(r, s * 1000));
};
const PASSWORD = 'bench password 1';

/** Env of the mesh the bench starts: rate limits far above the offered load, cheap scrypt, long tokens. */
export const BENCH_MESH_ENV: Record<string, string> = {
  PARLEY_LOG_LEVEL: 'warn',
  SESSION_SCRYPT_COST: '1024',
  SESSION_SCRYPT_PARALLELISM: '1',
  ...LOOSE_AUTH_RATES,
  GROUP_RATE_CREATE_PER_MINUTE: '6000000',
  GROUP_RATE_CREATE_BURST: '100000',
  GROUP_RATE_MEMBERS_ADDED_PER_MINUTE: '6000000',
  GROUP_RATE_MEMBERS_ADDED_BURST: '1000000',
  SESSION_ACCESS_TOKEN_TTL_SECONDS: '86400',
  // The push scenario measures every message as a notification (no collapse); other scenarios have no offline devices.
  PUSH_COLLAPSE_WINDOW: '0',
  // Lets scenario conns run a full GC in gateway-0 (SIGUSR2, services/gateway/src/main.ts) before reading its RSS.
  // PARLEY_BENCH_NODE_OPTIONS adds V8/Node flags to every service of the bench's mesh (e.g. heap-sizing experiments).
  NODE_OPTIONS: `--expose-gc ${process.env['PARLEY_BENCH_NODE_OPTIONS'] ?? ''}`.trim(),
  ...Object.fromEntries(
    ['SEND', 'TYPING', 'MUTATE', 'READ', 'ACK', 'MISC'].flatMap((c) => [
      [`GATEWAY_RATE_${c}_PER_MINUTE`, '60000000'],
      [`GATEWAY_RATE_${c}_BURST`, '1000000'],
    ]),
  ),
};


/** `n` accounts (sign-up + login), over the gateways given round-robin; progress logged every 2,000. */
async function users(baseUrls: string | string[], n: number, prefix: string): Promise<Creds[]> {
  const https = (Array.isArray(baseUrls) ? baseUrls : [baseUrls]).map((u) => new ParleyHttp(u));
  let made = 0;
  // Sign-ups are admission-controlled (429 with retryAfterMs when the session service is saturated): wait and retry.
  const retry = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (e) {
        const ms = (e as { status?: number; body?: { error?: { retryAfterMs?: number } } }).status === 429 ? ((e as { body?: { error?: { retryAfterMs?: number } } }).body?.error?.retryAfterMs ?? 200) : -1;
        if (ms < 0 || i > 50) throw e;
        await new Promise((r) => setTimeout(r, ms + Math.random() * 100));
      }
    }
  };
  return mapLimit(Array.from({ length: n }, (_, i) => i), 32, async (i) => {
    const http = https[i % https.length]!;
    const username = randomUsername(prefix);
    await retry(() => http.createAccount({ username, password: PASSWORD }));
    const t = await retry(() => http.login({ username, password: PASSWORD, deviceName: 'bench' }));
    if (++made % 2000 === 0) log(`accounts: ${made} / ${n}`);
    return { userId: t.userId, accessToken: t.accessToken };
  });
}

/** The 1:1 load, inline (workers = 0) or spread over forked worker processes. */
interface Fleet {
  run(rate: number, durationS: number, graceS: number): Promise<RunResult>;
  close(): Promise<void>;
  size: number;
}

async function inlineFleet(wsUrls: string[], pairs: PairCreds[]): Promise<Fleet> {
  const load = await PairLoad.setup(wsUrls, pairs);
  return { run: (r, d, g) => load.run(r, d, g), close: () => load.close(), size: 0 };
}

async function forkedFleet(wsUrls: string[], pairs: PairCreds[], wanted: number): Promise<Fleet> {
  const workers = Math.min(wanted, pairs.length); // a worker without pairs has nothing to send
  const script = fileURLToPath(new URL('./worker.js', import.meta.url));
  const children: ChildProcess[] = [];
  const ask = <T>(c: ChildProcess, msg: unknown, want: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const on = (m: { type: string; message?: string }) => {
        if (m.type === 'error') {
          c.off('message', on);
          reject(new Error(`worker ${c.pid}: ${m.message}`));
        } else if (m.type === want) {
          c.off('message', on);
          resolve(m as T);
        }
      };
      c.on('message', on);
      c.send(msg as never);
    });
  const shares = Array.from({ length: workers }, (_, w) => pairs.filter((_, i) => i % workers === w));
  for (let w = 0; w < workers; w++) children.push(fork(script, [], { stdio: 'inherit' }));
  await Promise.all(children.map((c, w) => ask<unknown>(c, { type: 'init', wsUrls, pairs: shares[w] }, 'ready')));
  return {
    size: workers,
    async run(rate, durationS, graceS) {
      const results = (
        await Promise.all(children.map((c) => ask<{ result: RunResult }>(c, { type: 'run', rate: rate / workers, durationS, graceS }, 'result')))
      ).map((m) => m.result);
      return merge(rate, results);
    },
    async close() {
      await Promise.all(children.map((c) => new Promise<void>((r) => { c.once('exit', () => r()); c.send({ type: 'exit' }); })));
    },
  };
}

function merge(rate: number, rs: RunResult[]): RunResult {
  return {
    offered: rate,
    durationS: rs[0]!.durationS,
    sent: rs.reduce((n, r) => n + r.sent, 0),
    acked: rs.reduce((n, r) => n + r.acked, 0),
    delivered: rs.reduce((n, r) => n + r.delivered, 0),
    errors: rs.reduce((e, r) => addCounts(e, r.errors), {} as Record<string, number>),
    ackErrors: rs.reduce((n, r) => n + r.ackErrors, 0),
    e2e: rs.flatMap((r) => r.e2e),
    reply: rs.flatMap((r) => r.reply),
    cpuMs: rs.reduce((n, r) => n + r.cpuMs, 0),
    maxScheduleLagMs: Math.max(...rs.map((r) => r.maxScheduleLagMs)),
  };
}

interface Row {
  offered: number;
  ackedPerS: number;
  deliveredPct: string;
  e2e: ReturnType<typeof summarize>;
  reply: ReturnType<typeof summarize>;
  errors: Record<string, number>;
  errorPct: number;
  genCpuPct: number;
  lagMs: number;
  verdict?: string;
}

function row(r: RunResult): Row {
  const errorCount = Object.values(r.errors).reduce((a, b) => a + b, 0);
  return {
    offered: r.offered,
    ackedPerS: r.acked / r.durationS,
    deliveredPct: r.acked ? ((100 * r.delivered) / r.acked).toFixed(2) : '—',
    e2e: summarize(r.e2e),
    reply: summarize(r.reply),
    errors: r.errors,
    errorPct: r.sent ? (100 * errorCount) / r.sent : 0,
    genCpuPct: (100 * r.cpuMs) / (r.durationS * 1000),
    lagMs: r.maxScheduleLagMs,
  };
}

const errs = (e: Record<string, number>) => (Object.keys(e).length ? Object.entries(e).map(([k, v]) => `${k}: ${v}`).join(', ') : 'none');

function oneoneTable(rows: Row[]): string {
  return table(
    ['offered msg/s', 'acked msg/s', 'delivered % of acked', 'e2e p50', 'e2e p95', 'e2e p99', 'e2e max', 'send→ack p50', 'send→ack p99', 'errors (by code)', 'error %', 'generator CPU %', 'verdict'],
    rows.map((r) => [
      Math.round(r.offered),
      r.ackedPerS.toFixed(1),
      r.deliveredPct,
      ms(r.e2e.p50),
      ms(r.e2e.p95),
      ms(r.e2e.p99),
      ms(r.e2e.max),
      ms(r.reply.p50),
      ms(r.reply.p99),
      errs(r.errors),
      r.errorPct.toFixed(2),
      r.genCpuPct.toFixed(0),
      r.verdict ?? '',
    ]),
  );
}

/** Starts a measured phase: the CPU of `ps` and the histograms of `targets`; `end()` gives both, differenced. */
async function startMeasure(ps: ProcRef[], targets: MetricsTarget[]) {
  const histBefore = await scrape(targets);
  const before = snapshot(ps);
  const boxBefore = boxSnapshot();
  const t0 = Date.now();
  return {
    async end(): Promise<{ used: Map<string, number>; seconds: number; stages: string; box: string }> {
      const used = diff(before, snapshot(ps));
      const box = boxLine(boxBefore, boxSnapshot());
      const seconds = (Date.now() - t0) / 1000;
      const stages = targets.length ? stagesTable(histBefore, await scrape(targets)) : '';
      return { used, seconds, stages, box };
    },
  };
}

function cpuTable(used: Map<string, number>, delivered: number, seconds: number, unit = 'delivered msg'): string {
  const rows = [...used.entries()].sort((a, b) => b[1] - a[1]);
  const sut = rows.filter(([n]) => n !== 'load generator').reduce((t, [, v]) => t + v, 0);
  const per = (v: number) => (delivered ? (v / delivered).toFixed(3) : '—');
  return table(
    ['process', 'CPU s', '% of one core', `CPU ms per ${unit}`],
    [
      ...rows.map(([n, v]) => [n, (v / 1000).toFixed(1), ((100 * v) / (seconds * 1000)).toFixed(0), per(v)]),
      ['**all but the generator**', (sut / 1000).toFixed(1), ((100 * sut) / (seconds * 1000)).toFixed(0), `**${per(sut)}**`],
    ],
  );
}

function header(title: string, a: BenchArgs, date: string, target: string, extra: string[]): string {
  const m = machine();
  return [
    `# ${title}`,
    '',
    `- date: ${date}`,
    `- machine: ${m.nproc} vCPU (${m.cpuModel}), ${m.memoryGiB} GiB RAM, Node ${m.node}. **Everything shares these cores**: Cassandra, Kafka, Redis, MinIO, the six services, two gateways and the load generator itself, so the numbers are a floor for one small box, not a capacity figure for a cluster.`,
    `- target: ${target}`,
    ...extra.map((e) => `- ${e}`),
    `- command: \`./parley bench ${process.argv.slice(2).join(' ')}\``,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const date = new Date().toISOString().slice(0, 10);
  let mesh: Mesh | undefined;
  let gatewayUrls = a.targets;
  let target = `gateways ${a.targets.join(', ')}`;
  if (gatewayUrls.length === 0) {
    log('starting a mesh (all services, two gateways)…');
    mesh = await startMesh({ gateways: 2, env: BENCH_MESH_ENV, onProgress: (l) => log(l) });
    gatewayUrls = mesh.gatewayUrls;
    target = `a fresh mesh started by the bench (${mesh.id}): all services + 2 gateways on this machine, SESSION_SCRYPT_COST=1024, gateway rate limits raised`;
  }
  const wsUrls = gatewayUrls.map((u) => u.replace(/^http/, 'ws') + '/v1/ws');
  const procs = (): ProcRef[] => [
    ...(mesh ? mesh.names().flatMap((n) => (mesh!.pid(n) ? [{ name: n, pid: mesh!.pid(n)! }] : [])) : []),
    ...infraProcs(),
  ];
  const metricsTargets = (): MetricsTarget[] =>
    mesh
      ? mesh.names().flatMap((n) => {
          const env = mesh!.envOf(n) ?? {};
          const port = n.startsWith('gateway') ? env['GATEWAY_PORT'] : env[`${n.toUpperCase()}_HTTP_PORT`];
          return port ? [{ name: n, url: `http://127.0.0.1:${port}/metrics` }] : [];
        })
      : gatewayUrls.map((u, i) => ({ name: `gateway-${i}`, url: `${u}/metrics` }));
  const summaries: string[] = [];
  const cleanup = async () => {
    await mesh?.stop();
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));

  let groupDone = false;
  const groupScenario = async () => {
    groupDone = true;
      log(`group: creating ${a.groupSize} accounts…`);
      const members = await users(gatewayUrls[0]!, a.groupSize, 'bg');
      let measure: Awaited<ReturnType<typeof startMeasure>> | undefined;
      let measured: Awaited<ReturnType<NonNullable<typeof measure>['end']>> | undefined;
      let genCpu = process.cpuUsage();
      const onMeasure = async (phase: 'start' | 'end') => {
        if (phase === 'start') {
          measure = await startMeasure(procs(), metricsTargets());
          genCpu = process.cpuUsage();
          return;
        }
        measured = await measure!.end();
        const g = process.cpuUsage(genCpu); // the generator is this process
        measured.used.set('load generator', (g.user + g.system) / 1000);
      };
      const g: GroupResult = await runGroup(wsUrls, members, {
        messages: a.groupMessages,
        intervalMs: a.groupIntervalMs,
        graceS: Math.max(a.grace, 30),
        noAck: a.groupNoAck,
        ackIntervalMs: a.groupAckIntervalMs,
        onMeasure,
        log,
      });
      const cpu = measured ? cpuTable(measured.used, g.delivered, measured.seconds, 'delivery') + (measured.box ? `\n\n${measured.box}` : '') : '';
      const measuredS = measured?.seconds ?? 0;
      const stages = measured?.stages ?? '';
      const per = summarize(g.perRecipient);
      const last = summarize(g.lastRecipient);
      const rep = summarize(g.reply);
      const t = table(
        ['members', 'messages', 'acked', 'deliveries / expected', 'per-recipient p50', 'p95', 'p99', 'max', 'last recipient p50', 'last recipient p99', 'send→ack p50', 'errors'],
        [[g.members, g.messages, g.acked, `${g.delivered} / ${g.expected}`, ms(per.p50), ms(per.p95), ms(per.p99), ms(per.max), ms(last.p50), ms(last.p99), ms(rep.p50), errs(g.errors)]],
      );
      const body =
        header(`Group fan-out (${g.members} members)`, a, date, target, [
          `load: one sender (gateway 0) sends ${g.messages} messages, one every ${a.groupIntervalMs} ms, to a group of ${g.members}; all members connected, alternating between the two gateways, ${a.groupNoAck ? 'NOT acking (--group-no-ack)' : a.groupAckIntervalMs > 0 ? `all acking together every ${a.groupAckIntervalMs} ms (--group-ack-interval)` : 'each acking 100 ms after its first unacked message, as the web client does'}; one generator process holds all ${g.members} connections`,
          `setup (accounts connected, group created, creation fan-out settled): ${g.setupS.toFixed(1)} s`,
        ]) +
        '\n' +
        t +
        '\n\nper-recipient = send → that member\'s `message.new`; last recipient = send → the last of the ' + (g.members - 1) + ' recipients.\n' +
        (cpu ? `\n**CPU per delivery, by process** (user+system from /proc over the measured phase, ${measuredS.toFixed(1)} s: the sends, the deliveries and their acks; the load generator is the bench process itself, holding all ${g.members} sockets):\n\n${cpu}\n` : '') +
        (stages ? `\n**Where the time goes** (histograms of every process, differenced over the measured phase):\n\n${stages}\n` : '');
      log(`wrote ${writeResult(a.out, 'group' + (a.tag ? `-${a.tag}` : ''), date, body)}`);
      summaries.push(`### Group fan-out (${g.members} members)\n\n${t}`);
      console.log(t);
  };

  try {
    if (a.scenarios.includes('oneone') || a.scenarios.includes('ramp')) {
      log(`creating ${a.pairs * 2} accounts…`);
      const senders = await users(gatewayUrls[0]!, a.pairs, 'bs');
      const receivers = await users(gatewayUrls[0]!, a.pairs, 'br');
      const pairs = senders.map((s, i) => ({ sender: s, receiver: receivers[i]! }));
      log(`connecting ${a.pairs} pairs over ${a.workers || 'no'} worker process(es)…`);
      const fleet = a.workers > 0 ? await forkedFleet(wsUrls, pairs, a.workers) : await inlineFleet(wsUrls, pairs);
      const load = `${a.pairs} sender/receiver pairs (one direct chat each), senders on gateway 0, receivers on gateway 1, receivers ack every 100 ms; open-loop schedule, latency from each send's due time; ${fleet.size || 1} generator process(es)`;
      try {
        // A short warm-up (JIT, connection pools, Cassandra caches); not reported.
        log('warm-up 5 s at 50 msg/s');
        await fleet.run(50, 5, 5);
        if (a.scenarios.includes('ramp')) {
          const rows: Row[] = [];
          let best: Row | undefined;
          for (let rate = a.rampStart; rate <= a.rampMax; rate = Math.round(rate * a.rampFactor)) {
            log(`ramp: ${rate} msg/s for ${a.rampStepSeconds} s`);
            const r = row(await fleet.run(rate, a.rampStepSeconds, Math.min(a.grace, 5)));
            const reasons: string[] = [];
            if (!(r.e2e.p99 <= 1000)) reasons.push('p99 > 1 s');
            if (r.errorPct > 1) reasons.push('errors > 1 %');
            if (r.ackedPerS < 0.9 * rate) reasons.push('acked < 90 % of offered');
            r.verdict = reasons.length ? `saturated: ${reasons.join(', ')}` : 'ok';
            rows.push(r);
            console.log(oneoneTable([r]));
            if (reasons.length) break;
            best = r;
            // Let queues drain between steps.
            await new Promise((res) => setTimeout(res, 2000));
          }
          const sat = best
            ? `saturation throughput ≈ **${best.ackedPerS.toFixed(0)} msg/s acked** (the last step that met every bound) with e2e p99 ${ms(best.e2e.p99)}, p50 ${ms(best.e2e.p50)}`
            : 'saturated at the first step';
          const body =
            header('1:1 ramp to saturation', a, date, target, [
              `load: ${load}`,
              `steps: from ${a.rampStart} msg/s ×${a.rampFactor} per step, ${a.rampStepSeconds} s each, until e2e p99 > 1 s, errors > 1 % or acked < 90 % of offered`,
              sat,
            ]) +
            '\n' +
            oneoneTable(rows) +
            '\n';
          log(`wrote ${writeResult(a.out, 'ramp' + (a.tag ? `-${a.tag}` : ''), date, body)}`);
          summaries.push(`### 1:1 ramp to saturation\n\n${sat}\n\n${oneoneTable(rows)}`);
        }
        // The group before the fixed-rate run: a run beyond saturation leaves a fan-out backlog behind.
        if (a.scenarios.includes('group')) {
          await pause(15);
          await groupScenario();
        }
        if (a.scenarios.includes('oneone')) {
          if (a.scenarios.includes('ramp') || a.scenarios.includes('group')) await pause(15);
          log(`oneone: ${a.rate} msg/s for ${a.duration} s`);
          const measure = await startMeasure(procs(), metricsTargets());
          const runFrom = Date.now();
          const raw = await fleet.run(a.rate, a.duration, a.grace);
          const gc = gcTable(gcPauses(infraProcs(), runFrom, Date.now()), a.duration + a.grace);
          if (gc) console.log(gc);
          const { used, stages, box } = await measure.end();
          if (stages) console.log(stages);
          used.set('load generator', raw.cpuMs);
          const r = row(raw);
          const cpu = cpuTable(used, raw.delivered, a.duration + a.grace) + (box ? `\n\n${box}` : '');
          console.log(cpu);
          const body =
            header(`1:1 at a fixed offered rate`, a, date, target, [`load: ${load}`, `offered: ${a.rate} msg/s for ${a.duration} s`]) +
            '\n' +
            oneoneTable([r]) +
            '\n\n**CPU per delivered message, by process** (user+system from /proc over the run and its grace period; the infra servers are shared with anything else on the box):\n\n' +
            cpu +
            (gc ? '\n\n**JVM GC pauses during the run** (from each JVM\'s gc.log):\n\n' + gc : '') +
            (stages ? '\n\n**Where the time goes** (histograms from every process\'s /metrics, differenced over the run; p50/p99 interpolated within buckets):\n\n' + stages : '') +
            '\n\ne2e = send due time → the receiver\'s `message.new` (same process clock). send→ack = due time → `ok:true` reply.\n';
          log(`wrote ${writeResult(a.out, 'oneone' + (a.tag ? `-${a.tag}` : ''), date, body)}`);
          summaries.push(`### 1:1 at ${a.rate} msg/s offered\n\n${oneoneTable([r])}`);
          console.log(oneoneTable([r]));
        }
      } finally {
        await fleet.close();
      }
    }

    if (a.scenarios.includes('group') && !groupDone) await groupScenario();
    if (a.scenarios.includes('media')) {
      const [u] = await users(gatewayUrls[0]!, 1, 'bm');
      const r = await runMediaBench(new ParleyHttp(gatewayUrls[0]!, u!.accessToken), { sizesMiB: a.mediaSizesMiB, concurrency: a.mediaConcurrency, count: a.mediaCount, log });
      const body =
        header('Media uploads and thumbnails', a, date, target, [
          'load: one user; N concurrent uploaders each run POST /v1/media → PUT to the presigned MinIO URL (Content-Length and x-amz-checksum-sha256 signed) → POST complete, until the files of a cell are in; random bytes',
          'MB/s = bytes PUT ÷ wall time of the cell; "PUT end → complete 200" = verification (size + the checksum MinIO recorded) and the LWT that marks the media ready',
        ]) +
        `\n${r.uploads}\n\n12-megapixel JPEG, one at a time; thumbnail = complete 200 → GET /v1/media/{id}/thumbnail answers 302 (polled every 25 ms; sharp, 320 px JPEG, MEDIA_THUMBNAIL_CONCURRENCY=1):\n\n${r.thumbnail}\n`;
      log(`wrote ${writeResult(a.out, 'media' + (a.tag ? `-${a.tag}` : ''), date, body)}`);
      summaries.push(`### Media uploads\n\n${r.uploads}\n\n### 12 MP thumbnail\n\n${r.thumbnail}`);
    }
    if (a.scenarios.includes('push')) {
      if (!mesh?.pushFakes) throw new Error('the push scenario needs the bench\'s own mesh (no --targets): it reads what the fake providers received');
      const pushOpts = {
        wsUrls,
        fakes: mesh.pushFakes,
        cells: a.pushPlatforms.flatMap((platform) => a.pushRates.map((rate) => ({ platform, rate }))),
        pairs: a.pushPairs,
        durationS: a.pushDuration,
        makeUsers: (n: number, prefix: string) => users(gatewayUrls[0]!, n, prefix),
        log,
      };
      const load0 = loadavg()[0]!;
      const targets = metricsTargets();
      let histBefore = await scrape(targets);
      const t = a.pushDirect
        ? await runPushDirect({ ...pushOpts, kafkaBrokers: mesh.env.PARLEY_KAFKA_BROKERS!.split(','), namespace: mesh.env.PARLEY_NAMESPACE ?? '' })
        : await runPushBench({ ...pushOpts, onMeasureStart: async () => void (histBefore = await scrape(targets)) });
      // Where the time goes (the measured cells only): the send path's and push's own histograms.
      const stages = stagesTable(histBefore, await scrape(targets))
        .split('\n')
        .filter((l, i) => i < 2 || /parley_push_|parley_message_(fanout|send)|parley_gateway_request|parley_kafka_produce_seconds/.test(l))
        .join('\n');
      const loadNote = `1-minute load average of the box (other engineers' builds and tests share the 2 cores): ${load0.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after`;
      const body =
        header(a.pushDirect ? 'Push service alone (requests produced to push.requests.v1)' : 'Push notifications through the fake providers', a, date, target, [
          a.pushDirect
            ? `load: ${a.pushPairs} offline devices with a push registration; push requests produced straight to push.requests.v1 (no send path, no fan-out) at the offered rate for ${a.pushDuration} s, each for a distinct chat; PUSH_COLLAPSE_WINDOW=0`
            : `load: through the send path: ${a.pushPairs} direct chats, senders online on gateway 0, each receiver's only device registered a push token (${a.pushPlatforms.join(' / ')}, round-robin) and is offline; a warm-up message per chat first (not measured); open-loop sends at the offered rate (all platforms together) for ${a.pushDuration} s, then ≤ 20 s drain; PUSH_COLLAPSE_WINDOW=0 (every message is a notification)`,
          a.pushDirect ? 'produce ack → receipt = the producer\'s ack from Kafka → the fake provider accepted the request' :
          'notifications/s = notifications the fake accepted ÷ (first send → last receipt); ack → receipt = the sender\'s ok:true reply → the fake provider accepted the request (webhook: HMAC verified; Web Push: VAPID JWT verified and aes128gcm payload decrypted, in the bench process); missing = acked, not notified when the drain ended',
          loadNote,
        ]) + `\n${t}\n\n**Where the time goes** (histograms of every process, differenced over the measured cells; \`parley_push_request_lag_seconds\` = message created → push took its request, i.e. send path + fan-out + Kafka; \`parley_push_send_seconds\` = the provider request):\n\n${stages}\n`;
      log(`wrote ${writeResult(a.out, (a.pushDirect ? 'push-direct' : 'push') + (a.tag ? `-${a.tag}` : ''), date, body)}`);
      summaries.push(`### Push\n\n${t}`);
      console.log(t);
    }
    if (a.scenarios.includes('presence')) {
      const watcherAccounts = a.presenceWatcherAccounts || a.presenceWatchers;
      log(`presence: creating ${watcherAccounts} watcher accounts and ${a.presenceDevices} device accounts…`);
      const tAcc = performance.now();
      const watchers = await users(gatewayUrls, watcherAccounts, 'bw');
      const targets = await users(gatewayUrls, a.presenceDevices, 'bt');
      const accountsS = (performance.now() - tAcc) / 1000;
      log(`presence: ${watcherAccounts + a.presenceDevices} accounts created in ${accountsS.toFixed(1)} s (${((watcherAccounts + a.presenceDevices) / accountsS).toFixed(0)}/s)`);
      const load0 = loadavg();
      const churnBefore = await scrape(metricsTargets());
      const rs = await runPresenceChurn(wsUrls, watchers, targets, {
        subscribers: a.presenceWatchers,
        fanout: a.presenceFanout,
        rates: a.presenceRates,
        maxInFlight: a.presenceConcurrency,
        workers: a.presenceWorkers,
        holdMs: a.presenceHoldMs,
        cycles: a.presenceCycles,
        maxS: a.presenceMaxS,
        graceMs: a.presenceGraceMs,
        procs,
        log,
      });
      const load1 = loadavg();
      const churnStages = stagesTable(churnBefore, await scrape(metricsTargets()));
      const r0 = rs[0]!;
      const latTable = table(
        ['offered connects/s', 'event (→ the subscriber\'s `presence` event)', 'p50', 'p99', 'max', 'count'],
        rs.flatMap((r) => [
          [r.offeredRate, 'online: connect call →', ms(r.online.p50), ms(r.online.p99), ms(r.online.max), r.online.count],
          [r.offeredRate, 'online: session.ready →', ms(r.onlineReady.p50), ms(r.onlineReady.p99), ms(r.onlineReady.max), r.onlineReady.count],
          [r.offeredRate, 'offline: clean close call →', ms(r.offline.p50), ms(r.offline.p99), ms(r.offline.max), r.offline.count],
        ]),
      );
      const countTable = table(
        ['offered connects/s', 'achieved connects/s', 'transitions/s', 'churn wall time', 'connects planned / completed / failed / not started', 'connects > 100 ms late (max)', 'events expected', 'received', 'matched', 'missing', 'duplicate', 'unexpected', 'load average (1 min) during, min–max'],
        rs.map((r) => [
          r.offeredRate,
          r.connectsPerS.toFixed(1),
          r.transitionsPerS.toFixed(1),
          `${r.churnS.toFixed(1)} s`,
          `${r.planned} / ${r.completed} / ${r.failed} / ${r.cut}`,
          `${r.late} (${ms(r.maxLateMs)})`,
          r.tally.expected,
          r.received,
          r.tally.matched,
          missing(r.tally),
          r.tally.duplicate,
          r.tally.unexpected,
          `${r.loadavg.min.toFixed(1)}–${r.loadavg.max.toFixed(1)}`,
        ]),
      );
      const anomT = table(
        ['offered connects/s', 'event', 'count', 'time since the user\'s last action, p50', 'min', 'max'],
        rs.flatMap((r) => [...r.anomalies].map(([k, v]) => [r.offeredRate, k, v.count, ms(v.p50), ms(v.min), ms(v.max)])),
      );
      const names = [...new Set(rs.flatMap((r) => [...r.cpu.keys()]))].sort((x, y) => (rs[0]!.cpu.get(y) ?? 0) - (rs[0]!.cpu.get(x) ?? 0));
      const cpuT = table(
        ['process', ...rs.map((r) => `CPU s at ${r.offeredRate}/s (% of one core)`), ...rs.map((r) => `CPU ms per transition at ${r.offeredRate}/s`)],
        names.map((name) => [
          name,
          ...rs.map((r) => {
            const v = r.cpu.get(name) ?? 0;
            return `${(v / 1000).toFixed(1)} (${((100 * v) / (r.windowS * 1000)).toFixed(0)} %)`;
          }),
          ...rs.map((r) => (r.completed ? ((r.cpu.get(name) ?? 0) / (2 * r.completed)).toFixed(2) : '—')),
        ]),
      );
      const la = (l: number[]) => l.map((x) => x.toFixed(1)).join(' / ');
      const loadNote = `load average (1/5/15 min) before the first churn ${la(load0)}, after the last ${la(load1)}; during each churn the 1-minute value sampled every 5 s (table); 2 cores, other engineers' work may share the box`;
      const body =
        header('Presence churn', a, date, target, [
          `load: ${r0.targets} devices (one per user; accounts by HTTP sign-up + login at SESSION_SCRYPT_COST=1024, ${accountsS.toFixed(0)} s for ${watcherAccounts + a.presenceDevices}) each connect, stay ${a.presenceHoldMs} ms and close cleanly (1000), ${a.presenceCycles} cycle(s) per churn; connects paced at the offered rate (device i's k-th connect due at t0 + (k·${r0.targets} + i)/rate s), at most ${a.presenceConcurrency} devices in flight in each of ${r0.workers} churn processes, alternating gateways${a.presenceMaxS ? `; no new connect after ${a.presenceMaxS} s` : ''}; one churn per offered rate, in order, 5 s apart, same accounts and subscribers`,
          `subscribers: ${r0.subscribers} connections over ${r0.watcherAccounts} accounts, alternating gateways, in the main bench process; each subscribed (≤ 500 ids per presence.subscribe) to ~${Math.ceil((r0.targets * r0.fanout) / r0.subscribers)} devices so every device has ${r0.fanout} subscriber(s); subscribing took ${r0.subscribeS.toFixed(1)} s`,
          `flap grace: a clean close shows offline at once (no grace window); a device's next connect waits > PRESENCE_GRACE_MS (${a.presenceGraceMs} ms) after its close and its cycles are devices ÷ rate apart (refused if that is under hold + grace + 1 s), so every connect and close is an online / offline transition a subscriber must see`,
          'matching: every event a subscriber received is assigned to the earliest unmatched transition of that user with its status that had already happened (bench/src/churn.ts); latency = that transition\'s connect call, session.ready or close call → the event\'s arrival (wall clock, one machine); missing = expected − matched',
          loadNote,
          `connect errors: ${rs.map((r) => `${r.offeredRate}/s: ${errs(r.errors)}`).join('; ')}`,
        ]) +
        `\n${latTable}\n\n${countTable}\n\n**Duplicate and unexpected events** (by status and the user's last action before the event):\n\n${anomT}\n\n**CPU by process** over each churn and its drain (user+system from /proc; the infra servers are shared with anything else on the box):\n\n${cpuT}\n\n**Where the time goes** (histograms from every process's /metrics, differenced over all churns):\n\n${churnStages}\n`;
      log(`wrote ${writeResult(a.out, 'presence' + (a.tag ? `-${a.tag}` : ''), date, body)}`);
      summaries.push(`### Presence churn\n\n${latTable}\n\n${countTable}\n\n${anomT}\n\n${cpuT}`);
      console.log(latTable + '\n\n' + countTable + '\n\n' + anomT + '\n\n' + cpuT);
    }
    if (a.scenarios.includes('receipts')) {
      log(`receipts: creating ${a.receiptsGroupSize} accounts…`);
      const us = await users(gatewayUrls[0]!, a.receiptsGroupSize, 'br');
      const histBefore = await scrape(metricsTargets());
      const r = await runGroupReceipts(wsUrls, us, { messages: a.receiptsMessages, log });
      const stageTable = stagesTable(histBefore, await scrape(metricsTargets()));
      const t = table(
        ['group size', 'messages', 'receipt frames to the sender / message', 'bytes / message', 'receipts / message', 'last read → sender has all, p50', 'p99', 'max', 'incomplete'],
        [[r.members, r.messages, r.framesPerMessage.toFixed(1), Math.round(r.bytesPerMessage), r.receiptsPerMessage.toFixed(0), ms(r.lastReadToSender.p50), ms(r.lastReadToSender.p99), ms(r.lastReadToSender.max), r.incomplete]],
      );
      const body =
        header(`Group receipts (${r.members} members)`, a, date, target, [
          `load: the sender (gateway 0) sends ${r.messages} messages one at a time; for each, all ${r.members - 1} members (alternating gateways) ack it, then all read it (64 requests in flight); 1 s pause between messages`,
          'frames/bytes = `receipt` and `receipts` frames the sender\'s one device got (delivered + read, coalesced per 250 ms window); latency = the last `message.read` reply → the sender holding a read receipt of every member',
        ]) + `\n${t}\n\n**Where the time goes** (histograms from every process's /metrics, differenced over the run (group creation included); \`parley_presence_receipt_latency_seconds{stage}\` = the receipt's ack/read at the message service → presence consumed / handled / published it):\n\n${stageTable}\n`;
      log(`wrote ${writeResult(a.out, 'receipts' + (a.tag ? `-${a.tag}` : ''), date, body)}`);
      summaries.push(`### Group receipts\n\n${t}\n\n${stageTable}`);
      console.log(t);
      console.log(stageTable);
    }

    if (a.scenarios.includes('conns')) {
      const pid = mesh?.pid('gateway-0');
      if (!pid) throw new Error('scenario conns needs the mesh the bench starts (it reads gateway-0\'s memory)');
      log(`conns: logging in ${a.connDevices} devices…`);
      const tokens = (await users(gatewayUrls[0]!, a.connDevices, 'bc')).map((u) => u.accessToken);
      log(`conns: opening ${a.conns} connections to gateway-0 from ${a.connWorkers} processes, ${a.connConcurrency} upgrades in flight…`);
      const ps = procs();
      const r = await runConns({ wsUrl: wsUrls[0]!, gatewayPid: pid, tokens, conns: a.conns, workers: a.connWorkers, concurrency: a.connConcurrency, idleS: a.connIdleS, log, cpu: { snapshot: () => snapshot(ps), diff }, metricsUrl: metricsTargets().find((t) => t.name === 'gateway-0')?.url });
      const cpu = r.cpuOpen ? cpuTable(r.cpuOpen, r.opened, r.seconds, 'upgrade') : '';
      const closing =
        r.cpuClose && r.closeSeconds !== undefined
          ? `**Closing** (every client closes its sockets; ${r.closeSeconds.toFixed(1)} s until gateway-0 held none, ${(r.opened / r.closeSeconds).toFixed(0)} closes/s; CPU until 2 s after that, for the unregisters and presence reports):\n\n${cpuTable(r.cpuClose, r.opened, r.closeSeconds + 2, 'close')}`
          : '';
      const p = r.parts;
      const partsLine = p
        ? `Per connection after full GC, by part: V8 heap committed ${p.heapTotal.toFixed(1)} KiB (of it in use ${p.heapUsed.toFixed(1)} KiB), external (Buffers) ${p.external.toFixed(1)} KiB, the rest (malloc, native handles, code) ${p.rest.toFixed(1)} KiB.`
        : '';
      const t = table(
        ['connections', 'opened', 'failed', 'seconds', 'upgrades/s', 'gateway RSS before (after full GC)', `RSS with all open, ${a.connIdleS} s idle`, 'per connection', 'RSS with all open, after full GC', 'per connection', 'errors'],
        [
          [
            r.target,
            r.opened,
            r.failed,
            r.seconds.toFixed(1),
            r.upgradesPerS.toFixed(0),
            `${(r.rssBeforeKiB / 1024).toFixed(0)} MiB`,
            `${(r.rssAfterKiB / 1024).toFixed(0)} MiB`,
            `${r.perConnKiB.toFixed(1)} KiB`,
            `${(r.rssAfterGcKiB / 1024).toFixed(0)} MiB`,
            `**${r.perConnAfterGcKiB.toFixed(1)} KiB**`,
            errs(r.errors),
          ],
        ],
      );
      const body =
        header('Idle authenticated connections on one gateway', a, date, target, [
          `load: ${a.conns} WebSockets to gateway-0 from ${a.connWorkers} generator processes, ${a.connConcurrency} upgrades in flight, ${a.connDevices} device tokens (several sockets per device); each counts once its session.ready arrived`,
          'per connection = (gateway-0 RSS with all open − RSS before) / opened; "before" is read after a full GC (SIGUSR2 → gc(), 2 s), "after" once 10 s after the last upgrade and again after a full GC: the first includes whatever garbage and young generation V8 had not collected yet, the second is what the connections hold',
          'CPU per upgrade = CPU of each process from the first upgrade to the last session.ready, / opened (the generator processes are not counted)',
        ]) + '\n' + t + '\n' + (partsLine ? `\n${partsLine}\n` : '') + (cpu ? `\n**CPU per upgrade, by process**\n\n${cpu}\n` : '') + (closing ? `\n${closing}\n` : '');
      log(`wrote ${writeResult(a.out, 'conns' + (a.tag ? `-${a.tag}` : ''), date, body)}`);
      summaries.push(`### Idle connections\n\n${t}${cpu ? `\n\n${cpu}` : ''}${closing ? `\n\n${closing}` : ''}`);
      console.log(t);
      if (partsLine) console.log(partsLine);
      if (cpu) console.log(cpu);
      if (closing) console.log(closing);
    }
  } finally {
    await cleanup();
  }
  console.log('\n' + summaries.join('\n\n'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
