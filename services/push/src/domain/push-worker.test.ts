import { create } from '@bufbuild/protobuf';
import { createLogger } from '@parley/kit';
import { eventsV1 } from '@parley/proto';
import { Dispatcher } from './dispatcher.js';
import { PushWorker } from './push-worker.js';
import type { Notification, Registration } from './types.js';

const ev = (seq: number, createdAt = Date.now()) =>
  create(eventsV1.PushRequestEventSchema, { userId: 'u', deviceId: 'd', chatId: 'c', seq: BigInt(seq), messageId: `m${seq}`, createdAt: BigInt(createdAt), bodyKind: eventsV1.PushBodyKind.TEXT, textPreview: `t${seq}` });

function worker(delays: number[]) {
  const sent: Notification[] = [];
  const skipped: string[] = [];
  const reg: Registration = { userId: 'u', deviceId: 'd', platform: 'webhook', token: 'https://x', updatedAt: 0 };
  let i = 0;
  const noop = () => {};
  const dispatcher = new Dispatcher([{ name: 'webhook', send: async (_r, n) => (sent.push(n), { kind: 'sent' }) }], {
    concurrency: 4, maxAttempts: 1, retryBaseMs: 1, retryMaxMs: 1, logger: createLogger('t', 'silent'),
    metrics: { sent: noop, failed: noop, retried: noop, invalidated: noop, enabled: noop }, onDeadToken: async () => {},
  });
  const w = new PushWorker({
    registrations: { get: () => new Promise((r) => setTimeout(() => r(reg), delays[i++] ?? 0)) },
    dispatcher,
    names: { nameOf: async () => 'Alice' },
    content: { previews: true, previewMaxChars: 100 },
    collapseWindowMs: 200,
    maxAgeMs: 60_000,
    logger: createLogger('t', 'silent'),
    metrics: { skipped: (r) => skipped.push(r), collapsed: noop, result: noop },
  });
  return { w, sent, skipped };
}

describe('PushWorker', () => {
  it('submits a device\'s events in order even when their lookups finish out of order', async () => {
    const { w, sent } = worker([60, 5, 30, 1]);
    await Promise.all([1, 2, 3, 4].map((s) => w.handle(ev(s))));
    expect(sent.map((n) => [Number(n.seq), n.badge, n.title, n.body])).toEqual([[1, 1, 'Alice', 't1'], [4, 4, 'Alice', 't4']]);
    w.close();
  });
  it('drops stale requests', async () => {
    const { w, sent, skipped } = worker([]);
    await w.handle(ev(1, Date.now() - 120_000));
    expect(sent).toHaveLength(0);
    expect(skipped).toEqual(['stale']);
    w.close();
  });
});
