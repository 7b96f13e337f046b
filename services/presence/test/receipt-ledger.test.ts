// The receipt ledger against the real Redis: what a device was sent is never sent to it again, whoever
// offers it (live flush, redelivered event, replay), concurrently too; out-of-order seqs still go out once.
import { createLogger, createRedis, type Redis } from '@parley/kit';
import { envSpec } from '../src/config.js';
import { ReceiptLedger, type LedgerItem } from '../src/adapters/receipt-ledger.js';

const run = `rl${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const cfg = envSpec.parse({ ...process.env, PARLEY_NAMESPACE: run });
let redis: Redis;
let ledger: ReceiptLedger;
const d = (reader: string, ...seqs: number[]): LedgerItem => ({ kind: 'd', reader, seqs: seqs.map(BigInt) });
const r = (reader: string, upTo: number): LedgerItem => ({ kind: 'r', reader, seqs: [BigInt(upTo)] });
const take = async (deviceId: string, chatId: string, ...items: LedgerItem[]) => (await ledger.take([{ deviceId, chatId, items }]))[0]!.map((l) => l.map(Number));

beforeAll(() => {
  redis = createRedis(cfg.redisUrl, { logger: createLogger('ledger-test', 'silent'), name: 'ledger-test' });
  ledger = new ReceiptLedger(redis, run, 8);
});

afterAll(async () => {
  const keys = await redis.keys(`${run}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

it('a delivered seq goes to a device once per reader, late out-of-order seqs too; devices and chats are separate', async () => {
  expect(await take('dev1', 'c', d('b', 3, 5))).toEqual([[3, 5]]);
  expect(await take('dev1', 'c', d('b', 5, 6))).toEqual([[6]]); // a redelivered or second-device event
  expect(await take('dev1', 'c', d('b', 4))).toEqual([[4]]); // acked after 5: still reported, once
  expect(await take('dev1', 'c', d('b', 4, 3), d('e', 3))).toEqual([[], [3]]);
  expect(await take('dev2', 'c', d('b', 3))).toEqual([[3]]);
  expect(await take('dev1', 'c2', d('b', 3))).toEqual([[3]]);
});

it('keeps the last N seqs per reader; below them everything counts as sent', async () => {
  expect(await take('dev3', 'c', d('b', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10))).toEqual([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]);
  expect(await redis.hget(`${run}:parley:pres:rs:{dev3}:c`, 'd|b')).toBe('3,4,5,6,7,8,9,10');
  expect(await take('dev3', 'c', d('b', 1, 2, 3, 11))).toEqual([[11]]);
  expect(await redis.ttl(`${run}:parley:pres:rs:{dev3}:c`)).toBeGreaterThan(86_400);
});

it('read marks only rise; replay watermarks are separate and read back', async () => {
  expect(await take('dev4', 'c', r('b', 5))).toEqual([[5]]);
  expect(await take('dev4', 'c', r('b', 5), r('b', 4))).toEqual([[], []]);
  expect(await take('dev4', 'c', r('b', 9))).toEqual([[9]]);
  expect(await ledger.watermarks('dev4', 'c', ['b', 'x'])).toEqual(new Map([['b', 0n], ['x', 0n]]));
  expect(await take('dev4', 'c', { kind: 'w', reader: 'b', seqs: [7n] }, { kind: 'w', reader: 'b', seqs: [6n] })).toEqual([[7], []]);
  expect((await ledger.watermarks('dev4', 'c', ['b'])).get('b')).toBe(7n);
});

it('concurrent offers of the same receipts (a live flush and a replay, two replicas): each seq is taken once', async () => {
  const offers = Array.from({ length: 20 }, () => take('dev5', 'c', d('b', 1, 2, 3, 4), r('b', 4)));
  const res = await Promise.all(offers);
  expect(res.flatMap((x) => x[0]!).sort()).toEqual([1, 2, 3, 4]);
  expect(res.flatMap((x) => x[1]!)).toEqual([4]);
});

it('pipelines many devices in one round trip; empty requests answer empty', async () => {
  const out = await ledger.take([
    { deviceId: 'p1', chatId: 'c', items: [d('b', 1)] },
    { deviceId: 'p2', chatId: 'c', items: [] },
    { deviceId: 'p1', chatId: 'c', items: [d('b', 1, 2)] },
  ]);
  expect(out.map((x) => x.map((l) => l.map(Number)))).toEqual([[[1]], [], [[2]]]);
});
