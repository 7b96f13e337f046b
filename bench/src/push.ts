// Scenario `push` (only when named; needs the bench's own mesh, whose push service sends to the local fake
// providers): `pairs` sender/receiver pairs, one direct chat each; each receiver's only device registered a
// push token (webhook URL or Web Push subscription) and is offline, so every message becomes one
// notification. Open-loop sends at `rate` msg/s for `durationS`; measured: notifications per second the fake
// received (Web Push: after VAPID verification and aes128gcm decryption in the fake, so the encryption cost is
// on both sides of this box) and the latency from the sender's ack (ok:true reply) to the fake's receipt.
// PUSH_COLLAPSE_WINDOW=0 in the bench mesh (every message notified); with a window, a burst in one chat
// folds into one notification per window, which is not a throughput question.
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

export async function runPushBench(o: PushBenchOptions): Promise<string> {
  const rows: (string | number)[][] = [];
  const setups = new Map<string, { conns: ParleyConnection[]; chats: string[] }>();
  const setup = async (platform: PushCell['platform']) => {
    const have = setups.get(platform);
    if (have) return have;
    const senders = await o.makeUsers(o.pairs, 'bps');
    const receivers = await o.makeUsers(o.pairs, 'bpr');
    const conns: ParleyConnection[] = await mapLimit(senders, 8, (s) => retrying(() => connect(o.wsUrls[0]!, s.accessToken, { requestTimeoutMs: 15_000 })));
    const chats = await mapLimit(receivers, 8, async (r, i) => {
      const rc = await retrying(() => connect(o.wsUrls[1]!, r.accessToken, { requestTimeoutMs: 15_000 }));
      const reg = platform === 'webhook' ? o.fakes.webhookUrl() : o.fakes.webPushSubscription();
      await retrying(() => rc.request('push.register', { platform, token: reg.token }));
      await rc.close();
      return (await retrying(() => conns[i]!.request('chat.create', { type: 'direct', userId: r.userId }))).chat.chatId;
    });
    const s = { conns, chats };
    setups.set(platform, s);
    return s;
  };
  for (const cell of o.cells) {
    o.log(`push: ${cell.platform} at ${cell.rate} msg/s for ${o.durationS} s over ${o.pairs} chats`);
    const { conns, chats } = await setup(cell.platform);
    await sleep(1000);
    const acked = new Map<string, number>(); // chatId#seq → ack time
    const startIdx = o.fakes.received.length;
    const total = Math.round(cell.rate * o.durationS);
    const t0 = performance.now();
    const wall0 = Date.now();
    let errors = 0;
    const codes: Record<string, number> = {};
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / cell.rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const k = i % o.pairs;
      inflight.push(
        conns[k]!.request('message.send', { chatId: chats[k]!, clientMsgId: `bp-${t0.toFixed(0)}-${i}`, body: { text: `push bench ${i}` } }).then(
          (r) => void acked.set(`${chats[k]}#${r.seq}`, Date.now()),
          (err: unknown) => {
            errors += 1;
            const c = (err as { code?: string }).code ?? 'error';
            codes[c] = (codes[c] ?? 0) + 1;
          },
        ),
      );
    }
    await Promise.all(inflight);
    const deadline = Date.now() + 30_000;
    const keyOf = (r: { payload: unknown }) => {
      const p = r.payload as { chatId: string; seq: number };
      return `${p.chatId}#${p.seq}`;
    };
    const got = () => o.fakes.received.slice(startIdx).filter((r) => r.provider === cell.platform && acked.has(keyOf(r)));
    while (got().length < acked.size && Date.now() < deadline) await sleep(200);
    const rec = got();
    const lat: number[] = [];
    for (const r of rec) lat.push(r.at - acked.get(keyOf(r))!);
    const lastAt = Math.max(wall0 + 1, ...rec.map((r) => r.at));
    const perS = rec.length / ((lastAt - wall0) / 1000);
    const s = summarize(lat);
    rows.push([cell.platform, cell.rate, o.durationS, acked.size, rec.length, perS.toFixed(0), ms(s.p50), ms(s.p95), ms(s.p99), ms(s.max), errors ? `${errors} (${Object.entries(codes).map(([k, v]) => `${k} ${v}`).join(', ')})` : 0]);
    o.log(`push: ${rows[rows.length - 1]!.join(' | ')}`);
    await sleep(3000);
  }
  for (const { conns } of setups.values()) await Promise.all(conns.map((c) => c.close()));
  return table(
    ['provider (fake)', 'offered msg/s', 's', 'acked', 'notifications received', 'notifications/s', 'ack → receipt p50', 'p95', 'p99', 'max', 'send errors'],
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
      const keyOf = (r: { payload: unknown }) => {
        const p = r.payload as { chatId: string; seq: number };
        return `${p.chatId}#${p.seq}`;
      };
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
