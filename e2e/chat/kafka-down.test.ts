// Kafka down after a commit (issue 15, "Kafka down after a commit"; protocol.md §8.1–§8.3). A send is committed
// to Cassandra first and published to chat.messages.v1 after; with Kafka gone between the two, the sender is
// answered with a retryable error (never ok:true for an unpublished message), and the client's retry with the
// same clientMsgId is answered `duplicate:true` with the ORIGINAL seq while it republishes the stored message
// (MessageSender.duplicateOf). Test: under the crash suite's steady stream (app-like clients: same clientMsgId
// until acked), stop Kafka mid-burst and start it again → every acked message reaches every member device,
// each clientMsgId is stored once at the seq its ack named, and some acks were duplicate replies (the
// commit-then-no-publish path did happen).
//
// And a sender that never retries (the app was killed after its send): the message service keeps the stored,
// unpublished message and publishes it in the background once the broker is back (domain/republisher.ts), so
// the recipient gets it live, on the connection it held through the outage, without reconnecting.
//
// Kafka is private to this file (its own run directory and ports): restarting the shared broker, which by
// this point of the suite holds thousands of test partitions, would take long and disturb nothing useful.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@parley/testing';
import { chatMesh, clientMsgId, Device, newUser, sleep, text, type Mesh } from './helpers.js';
import { finalDrain, stream, summary, verify, world } from './crash-kit.js';

jest.setTimeout(600_000);

const ROOT = repoRoot();
const PRIVATE: Record<string, string> = {
  PARLEY_RUN_DIR: join(ROOT, '.run', 'kafka-down'),
  PARLEY_KAFKA_PORT: process.env.KAFKA_DOWN_PORT ?? '9392',
  PARLEY_KAFKA_CONTROLLER_PORT: process.env.KAFKA_DOWN_CONTROLLER_PORT ?? '9393',
};
const kafka = (cmd: 'start' | 'stop'): void => {
  execFileSync(join(ROOT, 'infra', 'parley-infra'), [cmd, 'kafka'], { env: { ...process.env, ...PRIVATE }, stdio: ['ignore', 'inherit', 'inherit'] });
};

let mesh: Mesh;

beforeAll(async () => {
  mkdirSync(PRIVATE.PARLEY_RUN_DIR!, { recursive: true });
  kafka('start');
  // Short upstream deadline so sends waiting on a dead broker fail fast and are retried.
  mesh = await chatMesh({ PARLEY_KAFKA_BROKERS: `127.0.0.1:${PRIVATE.PARLEY_KAFKA_PORT}`, GATEWAY_UPSTREAM_DEADLINE_MS: '3000' });
});

afterAll(async () => {
  await mesh?.stop();
  kafka('stop');
});

it('Kafka stopped mid-burst and restarted: every acked message is delivered, every retry is a duplicate of the stored one', async () => {
  const w = await world(mesh, 'kd');
  let stop = false;
  const run = stream(w, () => stop);
  await sleep(3000);
  const downAt = Date.now();
  kafka('stop');
  // Long enough for several sends per sender to commit and find no broker.
  await sleep(5000);
  kafka('start');
  const upAt = Date.now();
  // Producers reconnect and the fan-out's consumer group re-forms on the restarted broker; keep streaming.
  await sleep(10_000);
  stop = true;
  const { acked, attempted } = await run;
  console.log(`[kafka-down] broker down ${upAt - downAt} ms (stop, 5 s, start until ready)`);
  expect(acked.length).toBeGreaterThan(50);
  // The fault was exercised: sends failed while the broker was away and were retried, and at least one retry
  // found its first attempt already stored (answered duplicate:true, at the original seq: verify checks that
  // each clientMsgId is stored once, at the seq its ack named).
  expect(acked.some((a) => a.attempts > 1)).toBe(true);
  expect(acked.some((a) => a.duplicate)).toBe(true);
  const quiet = await finalDrain(w, Math.max(...acked.map((a) => a.ackedAt)), acked);
  summary('kafka', w, acked, attempted, quiet);
  await verify(w, acked);
  for (const d of w.devices) await d.dev.disconnect();
});

it('a message stored while Kafka was away reaches its online recipient live, though its sender never retries', async () => {
  const [alice, bob] = await Promise.all([newUser(mesh, 'kda'), newUser(mesh, 'kdb')]);
  const a = new Device(mesh, alice, 'alice');
  const b = new Device(mesh, bob, 'bob');
  await a.connect(0);
  await b.connect(1);
  await b.waitDrained();
  const { chat } = (await a.c.request('chat.create', { type: 'direct', userId: bob.userId })) as { chat: { chatId: string } };
  const first = (await a.c.request('message.send', { chatId: chat.chatId, clientMsgId: clientMsgId(), body: text('before') })) as { seq: number };
  await b.waitForSeqs(chat.chatId, [first.seq], 30_000);
  kafka('stop');
  // One attempt, never retried: the answer is an error (the publish found no broker, or the gateway's deadline
  // passed first), but the message was stored.
  const lost = 'sent into the outage';
  const err = await a.c.request('message.send', { chatId: chat.chatId, clientMsgId: clientMsgId(), body: text(lost) }, { timeoutMs: 30_000 }).then(
    () => undefined,
    (e: { code?: string }) => e,
  );
  expect(err?.code).toBe('unavailable');
  const stoppedAt = Date.now();
  kafka('start');
  const arrived = () => [...(b.messages.get(chat.chatId)?.values() ?? [])].some((m) => (m.body as { text?: string }).text === lost);
  await b.until(arrived, 120_000, 'the unretried message, live');
  console.log(`[kafka-down] unretried message delivered live ${Date.now() - stoppedAt} ms after its send failed`);
  // Live: on the connection bob held through the outage, not from a backlog after a reconnect.
  expect(b.connectionNumber).toBe(1);
  expect(b.eventsOf(1).filter((e) => e.event === 'inbox.drained')).toHaveLength(1);
  await a.disconnect();
  await b.disconnect();
});
