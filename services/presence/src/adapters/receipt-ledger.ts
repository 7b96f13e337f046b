// What each device has been sent, per chat, so that every receipt reaches a device at most once — whether
// it comes from a live event, an event Kafka redelivered after a presence crash, a second device of the
// reader acking the same seq, or the replay on connect. Redis, one hash per (device, chat):
//
//   parley:pres:rs:{<deviceId>}:<chatId>
//     d|<reader>  the delivered seqs of that reader sent to this device: the last LEDGER_KEEP of them,
//                 ascending, comma-separated. A seq in the list, or below the list's lowest once the list
//                 is full, counts as sent.
//     r|<reader>  the highest read upToSeq of that reader sent to this device (reads are cumulative).
//     w|<reader>  the reader's delivered watermark (receipt_marks.delivered_seq) up to which a replay has
//                 already reconciled this device: the next replay looks only above it.
//
// The check and the update are one Lua script per (device, chat), so concurrent senders of the same
// receipt (a live flush and a replay, two presence replicas, a redelivered event) agree on exactly one.
// The hash expires LEDGER_TTL_S after its last write (a device away longer gets its receipts again from
// the watermarks, within the replay window). A Redis loss loses the ledger: receipts may then be sent twice.
import { nsKey, type Redis } from '@parley/kit';
import type { LedgerItem, LedgerPort, LedgerRequest } from '../domain/ports.js';

export const LEDGER_KEEP = 256;
export const LEDGER_TTL_S = 31 * 86_400;

const FILTER = {
  numberOfKeys: 1,
  lua: `local h = KEYS[1]
local K = tonumber(ARGV[1])
local out = {}
local i = 3
local n = #ARGV
local wrote = false
while i <= n do
  local kind = ARGV[i]
  local reader = ARGV[i + 1]
  local cnt = tonumber(ARGV[i + 2])
  i = i + 3
  local keep = {}
  if kind == 'r' or kind == 'w' then
    local f = kind .. '|' .. reader
    local best = tonumber(redis.call('HGET', h, f) or '0')
    local bs = nil
    for j = 0, cnt - 1 do
      local v = tonumber(ARGV[i + j])
      if v > best then best = v; bs = ARGV[i + j] end
    end
    if bs then redis.call('HSET', h, f, bs); wrote = true; keep[1] = bs end
  else
    local f = 'd|' .. reader
    local raw = redis.call('HGET', h, f)
    local list = {}
    local set = {}
    if raw then
      for x in string.gmatch(raw, '%d+') do local v = tonumber(x); list[#list + 1] = v; set[v] = true end
    end
    local full = #list >= K
    local lo = list[1] or 0
    for j = 0, cnt - 1 do
      local s = ARGV[i + j]
      local v = tonumber(s)
      if v > 0 and not set[v] and not (full and v < lo) then
        set[v] = true
        list[#list + 1] = v
        keep[#keep + 1] = s
      end
    end
    if #keep > 0 then
      table.sort(list)
      local first = 1
      if #list > K then first = #list - K + 1 end
      local parts = {}
      for j = first, #list do parts[#parts + 1] = string.format('%.0f', list[j]) end
      redis.call('HSET', h, f, table.concat(parts, ','))
      wrote = true
    end
  end
  i = i + cnt
  out[#out + 1] = keep
end
if wrote then redis.call('EXPIRE', h, ARGV[2]) end
return out`,
} as const;

export type { LedgerItem, LedgerRequest } from '../domain/ports.js';

type Filter = { presReceiptFilter(key: string, ...args: (string | number)[]): Promise<string[][]> };

export class ReceiptLedger implements LedgerPort {
  constructor(
    private readonly redis: Redis,
    private readonly ns: string,
    private readonly keep = LEDGER_KEEP,
  ) {
    if (!('presReceiptFilter' in redis)) redis.defineCommand('presReceiptFilter', FILTER);
  }

  private key(deviceId: string, chatId: string): string {
    return nsKey(this.ns, `parley:pres:rs:{${deviceId}}:${chatId}`);
  }

  private args(items: LedgerItem[]): (string | number)[] {
    const a: (string | number)[] = [this.keep, LEDGER_TTL_S];
    for (const it of items) a.push(it.kind, it.reader, it.seqs.length, ...it.seqs.map(String));
    return a;
  }

  /**
   * For each request, for each item: the seqs not sent to that device before, now recorded as sent (for `r`
   * and `w`: the new value if it raised the stored one, else nothing). One pipelined round trip.
   */
  async take(reqs: LedgerRequest[]): Promise<bigint[][][]> {
    const live = reqs.filter((r) => r.items.length);
    if (!live.length) return reqs.map((r) => r.items.map(() => []));
    const p = this.redis.pipeline() as unknown as Filter & { exec(): Promise<[Error | null, unknown][] | null> };
    for (const r of live) void p.presReceiptFilter(this.key(r.deviceId, r.chatId), ...this.args(r.items));
    const res = (await p.exec()) ?? [];
    let k = 0;
    return reqs.map((r) => {
      if (!r.items.length) return [];
      const [err, v] = res[k++] ?? [new Error('no reply'), null];
      if (err) throw err;
      return (v as string[][]).map((l) => l.map((s) => BigInt(s)));
    });
  }

  /** The replay watermarks (`w|<reader>`) of one device in one chat; 0 where none. */
  async watermarks(deviceId: string, chatId: string, readers: string[]): Promise<Map<string, bigint>> {
    const out = new Map<string, bigint>();
    if (!readers.length) return out;
    const vals = await this.redis.hmget(this.key(deviceId, chatId), ...readers.map((r) => `w|${r}`));
    readers.forEach((r, i) => out.set(r, vals[i] ? BigInt(vals[i]!) : 0n));
    return out;
  }
}
