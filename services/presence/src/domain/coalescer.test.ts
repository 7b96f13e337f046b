import { create } from '@bufbuild/protobuf';
import { eventsV1 } from '@parley/proto';
import { ReceiptCoalescer, mergeReceipt } from './coalescer.js';
import { lastSeenVisible } from './model.js';

const D = eventsV1.ReceiptStatus.DELIVERED;
const R = eventsV1.ReceiptStatus.READ;
const rc = (userId: string, status: eventsV1.ReceiptStatus, seqs: bigint[] = [], upToSeq = 0n) =>
  create(eventsV1.ReceiptEventSchema, { chatId: 'g', userId, status, seqs, upToSeq });

describe('receipt coalescing', () => {
  it('merges delivered seqs and raises read marks', () => {
    let m = mergeReceipt(undefined, rc('u', D, [3n, 1n]));
    m = mergeReceipt(m, rc('u', D, [2n, 3n]));
    expect(m.seqs).toEqual([1n, 2n, 3n]);
    let r = mergeReceipt(undefined, rc('u', R, [], 5n));
    r = mergeReceipt(r, rc('u', R, [], 3n));
    expect(r.upToSeq).toBe(5n);
  });

  it('flushes one batch per recipient per window, whatever the number of readers', async () => {
    jest.useFakeTimers();
    const flushed: Map<string, eventsV1.ReceiptEvent[]>[] = [];
    const c = new ReceiptCoalescer(async (_chat, by) => {
      flushed.push(by);
    }, () => {});
    for (let i = 0; i < 1023; i++) {
      c.add('g', ['sender'], rc(`m${i}`, D, [7n]), 250);
      c.add('g', ['sender'], rc(`m${i}`, R, [], 7n), 250);
    }
    expect(flushed).toHaveLength(0);
    jest.advanceTimersByTime(250);
    await Promise.resolve();
    expect(flushed).toHaveLength(1);
    expect(flushed[0]!.get('sender')).toHaveLength(2046);
    c.add('g', ['sender'], rc('late', D, [8n]), 250);
    jest.advanceTimersByTime(250);
    await Promise.resolve();
    expect(flushed).toHaveLength(2);
    jest.useRealTimers();
  });
});

describe('lastSeen visibility', () => {
  it.each([
    ['everyone', false, true],
    ['everyone', true, true],
    ['contacts', true, true],
    ['contacts', false, false],
    ['nobody', true, false],
    ['nobody', false, false],
  ] as const)('%s, contact=%s → %s', (setting, contact, visible) => {
    expect(lastSeenVisible('owner', 'viewer', setting, contact)).toBe(visible);
  });
  it('a user always sees their own', () => {
    expect(lastSeenVisible('me', 'me', 'nobody', false)).toBe(true);
  });
});
