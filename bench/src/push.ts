// Scenario `push` (only when named; needs the bench's own mesh, whose push service sends to the local fake
// providers), THROUGH THE SEND PATH: `pairs` sender/receiver pairs, one direct chat each. Senders stay online on
// gateway 0; each receiver's only device registered a push token and went offline, the receivers split between
// the platforms named (webhook URLs and Web Push subscriptions, round-robin), so every message becomes one
// notification (PUSH_COLLAPSE_WINDOW=0 in the bench mesh). Before measuring, a warm-up sends one message per
// chat and waits for every notification (first TLS handshakes, the send path's shard leases, consumer
// assignments), so a cell starts on a working mesh. Then open-loop sends at `rate` msg/s for `durationS`.
// Measured per platform: notifications per second the fake accepted (webhook: HMAC checked; Web Push: VAPID JWT
// verified and aes128gcm payload decrypted, in this process, so the crypto is paid on both sides of the box),
// and the latency from the sender's ack (ok:true reply) to the fake's receipt; missing = acked messages with no
// notification when the drain ended.
import { connect, type ParleyConnection } from '@parley/client';
import { create } from '@bufbuild/protobuf';
import { EventProducer, createKafka, createLogger, mapLimit, nsTopic, TOPICS } from '@parley/kit';
import { eventsV1 } from '@parley/proto';
import type { PushFakes } from '@parley/testing';
import { table } from './report.js';
import { ms, summarize } from './stats.js';

export interface PushCell {
  platform: 'webhook' | 'webpush';
  rate: number;
}

export interface PushBenchOptions {
  wsUrls: string[];
  fakes: PushFakes;
  cells: PushCell[];
  pairs: number;
  durationS: number;
  /** Senders and receivers: {userId, accessToken} (receivers log in a fresh device per cell). */
  makeUsers(n: number, prefix: string): Promise<Array<{ userId: string; accessToken: string }>>;
  log: (s: string) => void;
  /** Longest wait for the last notifications after the sends (s). */
  drainS?: number;
  /** Called after the warm-up, before the measured cells (e.g. to read every process's histograms). */
  onMeasureStart?: () => Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Setup requests on a loaded box: retry `unavailable` (deadline exceeded) a few times. */
async function retrying<T>(f: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await f();
    } catch (err) {
      if (i >= 6 || (err as { code?: string }).code !== 'unavailable') throw err;
      await sleep(500 * i);
    }
  }
}

const keyOf = (r: { payload: unknown }) => {
  const p = r.payload as { chatId: string; seq: number };
  return `${p.chatId}#${p.seq}`;
};

export async function runPushBench(o: PushBenchOptions): Promise<string> {
  const platforms = [...new Set(o.cells.map((c) => c.platform))];
  const rates = [...new Set(o.cells.map((c) => c.rate))];
  const drainMs = (o.drainS ?? 20) * 1000;
  const rows: (string | number)[][] = [];
  const senders = await o.makeUsers(o.pairs, 'bps');
  const receivers = await o.makeUsers(o.pairs, 'bpr');
  const conns: ParleyConnection[] = await mapLimit(senders, 8, (s) => retrying(() => connect(o.wsUrls[0]!, s.accessToken, { requestTimeoutMs: 15_000 })));
  const chats = await mapLimit(receivers, 8, async (r, i) => {
    const platform = platforms[i % platforms.length]!;
    const rc = await retrying(() => connect(o.wsUrls[1]!, r.accessToken, { requestTimeoutMs: 15_000 }));
    const reg = platform === 'webhook' ? o.fakes.webhookUrl() : o.fakes.webPushSubscription();
    await retrying(() => rc.request('push.register', { platform, token: reg.token }));
    await rc.close(); // offline from here on: every message to this chat is a push
    const chatId = (await retrying(() => conns[i]!.request('chat.create', { type: 'direct', userId: r.userId }))).chat.chatId;
    return { chatId, platform };
  });
  const platformOf = new Map(chats.map((c) => [c.chatId, c.platform]));
  let sent = 0;
  const sendOne = (k: number, tag: string) =>
    conns[k]!.request('message.send', { chatId: chats[k]!.chatId, clientMsgId: `bp-${tag}-${++sent}`, body: { text: `push bench ${sent}` } });

  // Warm-up: one message per chat, every notification in (or 60 s), not measured.
  {
    const t0 = Date.now();
    const startIdx = o.fakes.received.length;
    const want = new Set<string>();
    await mapLimit(chats, 8, async (_c, k) => {
      const r = await retrying(() => sendOne(k, 'warm'));
      want.add(`${chats[k]!.chatId}#${r.seq}`);
    });
    while (Date.now() - t0 < 60_000 && o.fakes.received.slice(startIdx).filter((r) => want.has(keyOf(r))).length < want.size) await sleep(200);
    o.log(`push: warm-up ${o.fakes.received.slice(startIdx).filter((r) => want.has(keyOf(r))).length}/${want.size} notified in ${Date.now() - t0} ms`);
  }
  await o.onMeasureStart?.();

  for (const rate of rates) {
    o.log(`push: ${rate} msg/s for ${o.durationS} s over ${o.pairs} chats (${platforms.join(' + ')})`);
    const acked = new Map<string, number>(); // chatId#seq → ack time
    const startIdx = o.fakes.received.length;
    const total = Math.round(rate * o.durationS);
    const t0 = performance.now();
    const wall0 = Date.now();
    const errors = new Map<string, Record<string, number>>();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const k = i % o.pairs;
      inflight.push(
        sendOne(k, `${rate}`).then(
          (r) => void acked.set(`${chats[k]!.chatId}#${r.seq}`, Date.now()),
          (err: unknown) => {
            const c = (err as { code?: string }).code ?? 'error';
            const e = errors.get(chats[k]!.platform) ?? {};
            e[c] = (e[c] ?? 0) + 1;
            errors.set(chats[k]!.platform, e);
          },
        ),
      );
    }
    await Promise.all(inflight);
    const sendEnd = Date.now();
    const got = () => o.fakes.received.slice(startIdx).filter((r) => acked.has(keyOf(r)));
    while (got().length < acked.size && Date.now() - sendEnd < drainMs) await sleep(200);
    const rec = got();
    for (const platform of platforms) {
      const mine = rec.filter((r) => platformOf.get((r.payload as { chatId: string }).chatId) === platform);
      const ackedMine = [...acked.keys()].filter((k) => platformOf.get(k.slice(0, k.lastIndexOf('#'))) === platform).length;
      const lat = mine.map((r) => r.at - acked.get(keyOf(r))!);
      const lastAt = Math.max(wall0 + 1, ...mine.map((r) => r.at));
      const st = summarize(lat);
      const e = errors.get(platform);
      const nErr = e ? Object.values(e).reduce((x, y) => x + y, 0) : 0;
      rows.push([
        platform, rate, (rate / platforms.length).toFixed(0), o.durationS, ackedMine, mine.length, ackedMine - mine.length,
        (mine.length / ((lastAt - wall0) / 1000)).toFixed(0), ms(st.p50), ms(st.p95), ms(st.p99), ms(st.max),
        nErr ? `${nErr} (${Object.entries(e!).map(([c, v]) => `${c} ${v}`).join(', ')})` : 0,
      ]);
      o.log(`push: ${rows[rows.length - 1]!.join(' | ')}`);
    }
    await sleep(2000);
  }
  await Promise.all(conns.map((c) => c.close()));
  return table(
    ['provider (fake)', 'offered msg/s (all)', 'of which to this provider', 's', 'acked', 'notifications received', 'missing', 'notifications/s', 'ack → receipt p50', 'p95', 'p99', 'max', 'send errors'],
    rows,
  );
}

/**
 * `--push-direct`: the push service alone. Push requests are produced straight to push.requests.v1 (as the
 * fan-out would), so the send path and the fan-out are out of the measurement; latency = the produce's ack
 * → the fake's receipt.
 */
export async function runPushDirect(o: PushBenchOptions & { kafkaBrokers: string[]; namespace: string }): Promise<string> {
  const logger = createLogger('bench-push', 'warn');
  const producer = new EventProducer(createKafka({ brokers: o.kafkaBrokers, clientId: 'bench-push', logger }), logger);
  const topic = nsTopic(o.namespace, TOPICS.pushRequests);
  const rows: (string | number)[][] = [];
  try {
    for (const cell of o.cells) {
      o.log(`push (direct): ${cell.platform} at ${cell.rate}/s for ${o.durationS} s over ${o.pairs} devices`);
      const receivers = await o.makeUsers(o.pairs, 'bpd');
      const devices = await mapLimit(receivers, 8, async (r) => {
        const rc = await retrying(() => connect(o.wsUrls[1]!, r.accessToken, { requestTimeoutMs: 15_000 }));
        const reg = cell.platform === 'webhook' ? o.fakes.webhookUrl() : o.fakes.webPushSubscription();
        await retrying(() => rc.request('push.register', { platform: cell.platform, token: reg.token }));
        await rc.close();
        const did = (JSON.parse(Buffer.from(r.accessToken.split('.')[1]!, 'base64url').toString('utf8')) as { did: string }).did;
        return { userId: r.userId, deviceId: did };
      });
      const produced = new Map<string, number>();
      const startIdx = o.fakes.received.length;
      const total = Math.round(cell.rate * o.durationS);
      const t0 = performance.now();
      const wall0 = Date.now();
      const tag = `${wall0.toString(36)}`;
      const inflight: Promise<void>[] = [];
      let errors = 0;
      for (let i = 0; i < total; i++) {
        const wait = t0 + (i * 1000) / cell.rate - performance.now();
        if (wait > 0) await sleep(wait);
        const d = devices[i % devices.length]!;
        const chatId = `bench-${tag}-${i}`;
        inflight.push(
          producer
            .send(topic, eventsV1.PushRequestEventSchema, d.deviceId, create(eventsV1.PushRequestEventSchema, {
              ...d, chatId, seq: 1n, messageId: `m-${i}`, senderUserId: d.userId, createdAt: BigInt(Date.now()),
              bodyKind: eventsV1.PushBodyKind.TEXT, textPreview: `push bench ${i}`,
            }))
            .then(() => void produced.set(`${chatId}#1`, Date.now()), () => void (errors += 1)),
        );
      }
      await Promise.all(inflight);
      const got = () => o.fakes.received.slice(startIdx).filter((r) => r.provider === cell.platform && produced.has(keyOf(r)));
      const deadline = Date.now() + 30_000;
      while (got().length < produced.size && Date.now() < deadline) await sleep(200);
      const rec = got();
      const lat = rec.map((r) => r.at - produced.get(keyOf(r))!);
      const lastAt = Math.max(wall0 + 1, ...rec.map((r) => r.at));
      const s = summarize(lat);
      rows.push([cell.platform, cell.rate, o.durationS, produced.size, rec.length, (rec.length / ((lastAt - wall0) / 1000)).toFixed(0), ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max), errors]);
      o.log(`push (direct): ${rows[rows.length - 1]!.join(' | ')}`);
      await sleep(3000);
    }
  } finally {
    await producer.disconnect();
  }
  return table(
    ['provider (fake)', 'offered requests/s', 's', 'produced', 'notifications received', 'notifications/s', 'produce ack → receipt p50', 'p95', 'p99', 'max', 'produce errors'],
    rows,
  );
}
