import { create } from '@bufbuild/protobuf';
import { commonV1 } from '@parley/proto';
import { Republisher } from './republisher.js';
import type { MessagePublisher } from './ports.js';

const msg = (chatId: string, seq: number) => create(commonV1.MessageSchema, { chatId, seq: BigInt(seq) });
const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

class FlakyPublisher implements MessagePublisher {
  published: string[][] = [];
  attempts = 0;
  constructor(public failures: number) {}
  async publishMessages(msgs: readonly commonV1.Message[]): Promise<void> {
    this.attempts += 1;
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('broker away');
    }
    this.published.push(msgs.map((m) => `${m.chatId}:${m.seq}`));
  }
}

it('keeps retrying with backoff until the broker takes the messages, in seq order per chat', async () => {
  const pub = new FlakyPublisher(3);
  const errors: number[] = [];
  let published = 0;
  const r = new Republisher(pub, { initialDelayMs: 5, maxDelayMs: 20, onError: (_e, held) => errors.push(held), onPublished: (n) => (published += n) });
  r.hold([msg('b', 2), msg('a', 7)]);
  r.hold([msg('b', 1)]);
  await until(() => r.size === 0);
  expect(pub.attempts).toBe(4);
  expect(errors).toEqual([3, 3, 3]);
  expect(pub.published).toEqual([['a:7', 'b:1', 'b:2']]);
  expect(published).toBe(3);
  await r.stop();
});

it('holds a message once however often its publish failed', async () => {
  const pub = new FlakyPublisher(1);
  const r = new Republisher(pub, { initialDelayMs: 5 });
  r.hold([msg('a', 1)]);
  r.hold([msg('a', 1), msg('a', 2)]);
  expect(r.size).toBe(2);
  await until(() => r.size === 0);
  expect(pub.published.flat()).toEqual(['a:1', 'a:2']);
  await r.stop();
});

it('drops the oldest beyond its bound, and says so', async () => {
  const pub = new FlakyPublisher(1_000_000);
  let dropped = 0;
  const r = new Republisher(pub, { max: 3, initialDelayMs: 60_000, onDropped: (n) => (dropped += n) });
  r.hold([msg('a', 1), msg('a', 2), msg('a', 3), msg('a', 4), msg('a', 5)]);
  expect(r.size).toBe(3);
  expect(dropped).toBe(2);
  pub.failures = 0;
  expect(await r.stop()).toBe(0); // the last attempt on stop publishes what is left
  expect(pub.published.flat()).toEqual(['a:3', 'a:4', 'a:5']);
});

it('on stop, reports what it could not publish and holds nothing more', async () => {
  const pub = new FlakyPublisher(1_000_000);
  const r = new Republisher(pub, { initialDelayMs: 60_000 });
  r.hold([msg('a', 1), msg('b', 1)]);
  expect(await r.stop()).toBe(2);
  r.hold([msg('c', 1)]);
  expect(r.size).toBe(0);
});
