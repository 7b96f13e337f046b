import { commonV1 } from '@parley/proto';
import { ChatSequencer, type Guard } from './chat-sequencer.js';
import { FakeLog, systemMsg, userMsg } from './fakes.test-support.js';

const far = () => Date.now() + 60_000;

function seqsOf(log: FakeLog, chatId: string): bigint[] {
  return [...log.chat(chatId).keys()].sort((a, b) => (a < b ? -1 : 1));
}

describe('ChatSequencer', () => {
  it('assigns 1..n without gaps or duplicates to concurrent commits, in batches', async () => {
    const log = new FakeLog();
    const published: bigint[] = [];
    const seq = new ChatSequencer(log, async (_c, msgs) => void published.push(...msgs.map((m) => m.seq)), { bucketSize: 10_000n });
    const got = await Promise.all(Array.from({ length: 200 }, (_, i) => seq.commit('c1', userMsg('c1', `u${i % 8}`), undefined, far())));
    expect([...got].sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i + 1)));
    expect(seqsOf(log, 'c1')).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i + 1)));
    // Published in seq order, and batched (far fewer inserts than messages).
    expect(published).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i + 1)));
    expect(log.insertCalls).toBeLessThan(20);
  });

  it('two instances on one chat: the loser re-reads the head and retries after the winner', async () => {
    const log = new FakeLog();
    const a = new ChatSequencer(log, async () => {}, { bucketSize: 10_000n, maxBatch: 3 });
    const b = new ChatSequencer(log, async () => {}, { bucketSize: 10_000n, maxBatch: 2 });
    const jobs: Array<Promise<bigint>> = [];
    for (let i = 0; i < 50; i++) {
      jobs.push(a.commit('c', userMsg('c', 'x'), undefined, far()));
      jobs.push(b.commit('c', userMsg('c', 'y'), undefined, far()));
    }
    const got = await Promise.all(jobs);
    expect(new Set(got.map(String)).size).toBe(100);
    expect(seqsOf(log, 'c')).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(i + 1)));
  });

  it('resumes from the stored head (hint lagging behind the log)', async () => {
    const log = new FakeLog();
    for (let s = 1n; s <= 7n; s++) log.chat('c').set(s, { ...userMsg('c', 'u'), seq: s });
    log.heads.set('c', 3n);
    const seq = new ChatSequencer(log, async () => {}, { bucketSize: 10_000n });
    expect(await seq.commit('c', userMsg('c', 'u'), undefined, far())).toBe(8n);
  });

  it('never lets a batch cross a bucket boundary', async () => {
    const log = new FakeLog();
    const sizes: number[] = [];
    const seq = new ChatSequencer(log, async (_c, msgs) => {
      sizes.push(msgs.length);
      const buckets = new Set(msgs.map((m) => m.seq / 10n));
      expect(buckets.size).toBe(1);
    }, { bucketSize: 10n });
    await Promise.all(Array.from({ length: 35 }, () => seq.commit('c', userMsg('c', 'u'), undefined, far())));
    expect(seqsOf(log, 'c')).toHaveLength(35);
  });

  it('ends a batch after a membership change and re-verifies guards taken before it', async () => {
    const log = new FakeLog();
    const seq = new ChatSequencer(log, async () => {}, { bucketSize: 10_000n });
    await seq.commit('c', userMsg('c', 'u'), undefined, far()); // seq 1
    const revalidations: string[] = [];
    const guard = (user: string, allowed: boolean): Guard => ({
      asOf: 1n,
      revalidate: async () => {
        revalidations.push(user);
        if (!allowed) throw Object.assign(new Error('not a member'), { code: 'not_member' });
      },
    });
    const removal = seq.commit('c', systemMsg('c', commonV1.SystemAction.MEMBERS_REMOVED, ['bob']), undefined, far());
    const fromBob = seq.commit('c', userMsg('c', 'bob'), guard('bob', false), far());
    const fromAlice = seq.commit('c', userMsg('c', 'alice'), guard('alice', true), far());
    expect(await removal).toBe(2n);
    await expect(fromBob).rejects.toMatchObject({ code: 'not_member' });
    expect(await fromAlice).toBe(3n);
    expect(revalidations.sort()).toEqual(['alice', 'bob']);
    expect(seqsOf(log, 'c')).toEqual([1n, 2n, 3n]);
  });

  it('re-verifies when it loses the race to a foreign membership change', async () => {
    const log = new FakeLog();
    const seq = new ChatSequencer(log, async () => {}, { bucketSize: 10_000n });
    await seq.commit('c', userMsg('c', 'u'), undefined, far()); // 1
    let once = true;
    log.beforeInsert = (chatId) => {
      if (once) {
        once = false; // another instance appends the removal at 2 first
        log.chat(chatId).set(2n, { ...systemMsg('c', commonV1.SystemAction.MEMBERS_REMOVED, ['bob']), seq: 2n });
      }
    };
    const p = seq.commit('c', userMsg('c', 'bob'), { asOf: 1n, revalidate: async () => { throw Object.assign(new Error('x'), { code: 'not_member' }); } }, far());
    await expect(p).rejects.toMatchObject({ code: 'not_member' });
    expect(seqsOf(log, 'c')).toEqual([1n, 2n]);
  });

  it('does not re-verify after a foreign commit of ordinary messages', async () => {
    const log = new FakeLog();
    const seq = new ChatSequencer(log, async () => {}, { bucketSize: 10_000n });
    await seq.commit('c', userMsg('c', 'u'), undefined, far());
    let once = true;
    log.beforeInsert = (chatId) => {
      if (once) {
        once = false;
        log.chat(chatId).set(2n, { ...userMsg('c', 'z'), seq: 2n });
      }
    };
    const revalidate = jest.fn(async () => {});
    expect(await seq.commit('c', userMsg('c', 'bob'), { asOf: 1n, revalidate }, far())).toBe(3n);
    expect(revalidate).not.toHaveBeenCalled();
  });

  it('rejects with unavailable past the deadline without committing', async () => {
    const log = new FakeLog();
    const seq = new ChatSequencer(log, async () => {}, { bucketSize: 10_000n });
    await expect(seq.commit('c', userMsg('c', 'u'), undefined, Date.now() - 1)).rejects.toMatchObject({ code: 'unavailable' });
    expect(seqsOf(log, 'c')).toEqual([]);
  });

  it('a failed post-commit publish answers unavailable naming the stored seq, and the seq stays taken', async () => {
    const log = new FakeLog();
    let fail = true;
    const unpublished: bigint[] = [];
    const seq = new ChatSequencer(log, async () => {
      if (fail) throw new Error('KafkaJSConnectionError');
    }, { bucketSize: 10_000n, onUnpublished: (msgs) => unpublished.push(...msgs.map((m) => m.seq)) });
    const p = seq.commit('c', userMsg('c', 'u'), undefined, far());
    await expect(p).rejects.toMatchObject({ code: 'unavailable' });
    await expect(p).rejects.toThrow(/stored at seq 1.*same clientMsgId/);
    expect(seqsOf(log, 'c')).toEqual([1n]);
    // The stored message goes to the republisher, so it is published even if its sender never retries.
    expect(unpublished).toEqual([1n]);
    fail = false;
    expect(await seq.commit('c', userMsg('c', 'v'), undefined, far())).toBe(2n);
    expect(unpublished).toEqual([1n]);
  });

  it('fails the queue on a store error and reloads the head afterwards', async () => {
    const log = new FakeLog();
    const seq = new ChatSequencer(log, async () => {}, { bucketSize: 10_000n });
    log.beforeInsert = () => {
      throw new Error('boom');
    };
    await expect(seq.commit('c', userMsg('c', 'u'), undefined, far())).rejects.toThrow('boom');
    log.beforeInsert = undefined;
    log.chat('c').set(1n, { ...userMsg('c', 'q'), seq: 1n });
    expect(await seq.commit('c', userMsg('c', 'u'), undefined, far())).toBe(2n);
  });
});
