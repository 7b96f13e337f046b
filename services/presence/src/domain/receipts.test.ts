// The receipts router over fakes of its ports: what a flush and a replay hand to the ledger and send, per
// device. The ledger's own semantics are tested against the real Redis (test/receipt-ledger.test.ts); the
// fake here keeps the same rules in memory.
import { create } from '@bufbuild/protobuf';
import { commonV1, eventsV1 } from '@parley/proto';
import type { LedgerItem, LedgerRequest } from './ports.js';
import type { Conn, ReceiptMark } from './model.js';
import { ReceiptRouter, SenderIndex } from './receipts.js';

const D = eventsV1.ReceiptStatus.DELIVERED;
const R = eventsV1.ReceiptStatus.READ;

class FakeLedger {
  readonly d = new Map<string, Set<bigint>>();
  readonly m = new Map<string, bigint>();
  async take(reqs: LedgerRequest[]): Promise<bigint[][][]> {
    return reqs.map((r) =>
      r.items.map((it: LedgerItem) => {
        const k = `${r.deviceId}|${r.chatId}|${it.reader}`;
        if (it.kind === 'd') {
          const set = this.d.get(k) ?? new Set<bigint>();
          this.d.set(k, set);
          return it.seqs.filter((s) => !set.has(s) && set.add(s));
        }
        const cur = this.m.get(`${it.kind}|${k}`) ?? 0n;
        const v = it.seqs[0]!;
        if (v <= cur) return [];
        this.m.set(`${it.kind}|${k}`, v);
        return [v];
      }),
    );
  }
  async watermarks(deviceId: string, chatId: string, readers: string[]): Promise<Map<string, bigint>> {
    return new Map(readers.map((r) => [r, this.m.get(`w|${deviceId}|${chatId}|${r}`) ?? 0n]));
  }
}

type Sent = { deviceId: string; kind: string; receipts: { userId: string; status: number; seqs: bigint[]; upToSeq: bigint }[] };

function setup(o: { conns: Conn[]; marks?: ReceiptMark[]; log?: [number, string][] }) {
  const sent: Sent[] = [];
  const ledger = new FakeLedger();
  const history = {
    getHistory: async (req: { afterSeq: bigint; beforeSeq: bigint }) => ({
      messages: (o.log ?? [])
        .filter(([s]) => BigInt(s) > req.afterSeq && BigInt(s) < req.beforeSeq)
        .map(([s, who]) => ({ seq: BigInt(s), kind: commonV1.MessageKind.USER, sender: { userId: who } })),
      hasMore: false,
    }),
  };
  const router = new ReceiptRouter(
    { marks: async () => o.marks ?? [], writeDelivered: async () => {}, writeRead: async () => {}, readSeq: async () => 0n } as never,
    { get: async () => ({ lastSeen: 'everyone', readReceipts: true }), getMany: async (ids: string[]) => new Map(ids.map((u) => [u, { lastSeen: 'everyone', readReceipts: true }])) } as never,
    {} as never,
    new SenderIndex(history as never),
    { listMemberships: async () => ({ memberships: [{ chatId: 'g', pending: false, joinedSeq: 1n }] }) } as never,
    { connections: async (users: string[]) => o.conns.filter((c) => users.includes(c.userId)) } as never,
    ledger as never,
    {
      send: async (targets: Conn[], p: { case: string; value: unknown }) => {
        const rs = p.case === 'receipt' ? [p.value] : (p.value as { receipts: unknown[] }).receipts;
        for (const t of targets) sent.push({ deviceId: t.deviceId, kind: p.case, receipts: rs as Sent['receipts'] });
      },
    } as never,
    {} as never,
    { debug: () => {}, warn: () => {} } as never,
    { windowMs: 0 },
  );
  return { router, sent, ledger };
}

const conn = (userId: string, deviceId: string): Conn => ({ userId, deviceId, gatewayId: 'gw', connectionId: `${deviceId}-c` });
const rc = (userId: string, status: eventsV1.ReceiptStatus, seqs: bigint[], upToSeq = 0n) => create(eventsV1.ReceiptEventSchema, { chatId: 'g', userId, status, seqs, upToSeq, at: 1n });

describe('receipts router', () => {
  it('a flush sends each device only what it was not sent before, per device', async () => {
    const { router, sent } = setup({ conns: [conn('a', 'a1'), conn('a', 'a2')] });
    await router.flush('g', new Map([['a', [rc('b', D, [3n, 4n]), rc('b', R, [], 4n)]]]));
    expect(sent.map((s) => [s.deviceId, s.kind, s.receipts.length])).toEqual([
      ['a1', 'receipts', 2],
      ['a2', 'receipts', 2],
    ]);
    sent.length = 0;
    // the same again (a redelivered event, a second reader device): nothing; something new: only that
    await router.flush('g', new Map([['a', [rc('b', D, [3n, 4n, 5n]), rc('b', R, [], 4n)]]]));
    expect(sent.map((s) => [s.deviceId, s.kind, s.receipts.map((r) => r.seqs)])).toEqual([
      ['a1', 'receipt', [[5n]]],
      ['a2', 'receipt', [[5n]]],
    ]);
  });

  it("a replay sends the user's own seqs up to each member's delivered mark, once, and only above what it reconciled", async () => {
    const log: [number, string][] = [[1, 'a'], [2, 'b'], [3, 'a'], [4, 'a'], [5, 'b']];
    const marks: ReceiptMark[] = [
      { userId: 'b', deliveredSeq: 4n, deliveredAt: Date.now(), readSeq: 3n, readAt: Date.now() },
      { userId: 'a', deliveredSeq: 5n, deliveredAt: Date.now(), readSeq: 0n, readAt: 0 },
    ];
    const a1 = conn('a', 'a1');
    const { router, sent } = setup({ conns: [a1], marks, log });
    // a's seq 3 already reached a1 live
    await router.flush('g', new Map([['a', [rc('b', D, [3n])]]]));
    expect(sent).toHaveLength(1);
    sent.length = 0;
    expect(await router.replay(a1)).toBe(2);
    const items = sent.flatMap((s) => s.receipts.map((r) => [r.userId, r.status, r.seqs, r.upToSeq]));
    expect(items).toEqual([
      ['b', R, [], 3n],
      ['b', D, [1n, 4n], 0n], // a's own messages up to b's mark, minus 3 (sent live); not b's own (2); not a's own mark
    ]);
    sent.length = 0;
    expect(await router.replay(a1)).toBe(0); // nothing new: nothing again
    marks[0]!.deliveredSeq = 5n; // b acked 5 (b's own message): nothing of a's to report
    expect(await router.replay(a1)).toBe(0);
    expect(sent).toEqual([]);
  });
});
