// The real MessageService over gRPC against the real Cassandra, Kafka and Redis (group/session are
// in-test gRPC fakes). Covers the send path, dedupe, crash healing, history bounds, inbox and fan-out.
import { create } from '@bufbuild/protobuf';
import { commonV1 } from '@parley/proto';
import { codeOf } from '@parley/kit';
import { startHarness, waitFor, type Harness } from './service-support.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 120_000);
afterAll(async () => h?.stop(), 60_000);

const text = (value: string) => create(commonV1.MessageBodySchema, { content: { case: 'text', value } });
let cm = 0;
const cmid = () => `client-${Date.now()}-${++cm}`;

function member(chatId: string, userId: string, joinedSeq = 1n, leftSeq = 0n, pending = false) {
  h.peers.group.set(chatId, userId, { joinedSeq, leftSeq, pending });
}

async function send(chatId: string, userId: string, body = 'hi', clientMsgId = cmid(), deviceId = `${userId}-phone`) {
  return h.client.sendMessage({ userId, deviceId, chatId, clientMsgId, body: text(body) });
}

describe('SendMessage', () => {
  it('200 concurrent sends from 8 senders get seq 1..200 with no gap or duplicate', async () => {
    const chat = 'chat-concurrent';
    for (let i = 0; i < 8; i++) member(chat, `sender-${i}`);
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => send(chat, `sender-${i % 8}`, `m${i}`)));
    const seqs = replies.map((r) => Number(r.seq)).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(new Set(replies.map((r) => r.messageId)).size).toBe(200);
    expect(replies.every((r) => !r.duplicate)).toBe(true);
    // The log agrees, durably: read back through history in pages.
    const seen: number[] = [];
    let after = 0n;
    for (;;) {
      const page = await h.client.getHistory({ userId: 'sender-0', chatId: chat, afterSeq: after, limit: 100 });
      seen.push(...page.messages.map((m) => Number(m.seq)));
      if (!page.hasMore) break;
      after = page.messages[page.messages.length - 1]!.seq;
    }
    expect(seen).toEqual(seqs);
    const heads = await h.client.getChatHeads({ chatIds: [chat, 'no-such-chat'] });
    expect(heads.heads.map((x) => [x.chatId, x.lastSeq])).toEqual([[chat, 200n]]);
  }, 60_000);

  it('an idempotent resend returns the first reply with duplicate:true and creates nothing', async () => {
    const chat = 'chat-dedupe';
    member(chat, 'alice');
    const id = cmid();
    const first = await send(chat, 'alice', 'once', id);
    const again = await send(chat, 'alice', 'once', id);
    expect(again).toMatchObject({ duplicate: true, seq: first.seq, messageId: first.messageId, createdAt: first.createdAt });
    // Another sender may use the same clientMsgId: it is a different intent.
    member(chat, 'bob');
    const bobs = await send(chat, 'bob', 'x', id);
    expect(bobs.duplicate).toBe(false);
    const hist = await h.client.getHistory({ userId: 'alice', chatId: chat, limit: 10 });
    expect(hist.messages.map((m) => m.seq)).toEqual([1n, 2n]);
  });

  it('rejects non-members, bad bodies, unknown replyTo; attachments are unavailable while media is down', async () => {
    const chat = 'chat-validate';
    member(chat, 'alice');
    await send(chat, 'alice');
    expect(await codeOf(send(chat, 'mallory'))).toBe('not_member');
    expect(await codeOf(send('no-such-chat', 'alice'))).toBe('not_member');
    expect(await codeOf(send(chat, 'alice', ''))).toBe('bad_request');
    expect(await codeOf(send(chat, 'alice', 'x'.repeat(16_385)))).toBe('too_large');
    expect(await codeOf(h.client.sendMessage({ userId: 'alice', deviceId: 'd', chatId: chat, clientMsgId: cmid(), body: text('r'), replyTo: 99n }))).toBe('not_found');
    const reply = await h.client.sendMessage({ userId: 'alice', deviceId: 'd', chatId: chat, clientMsgId: cmid(), body: text('r'), replyTo: 1n });
    expect(reply.seq).toBe(2n);
    expect(await codeOf(h.client.sendMessage({ userId: 'alice', deviceId: 'd', chatId: chat, clientMsgId: cmid(), body: {}, attachmentMediaIds: ['m1'] }))).toBe('unavailable');
  });

  it('stores ciphertext untouched', async () => {
    const chat = 'chat-cipher';
    member(chat, 'alice');
    const bytes = new Uint8Array(65_536).map((_, i) => (i * 31) % 256);
    await h.client.sendMessage({ userId: 'alice', deviceId: 'd', chatId: chat, clientMsgId: cmid(), body: { content: { case: 'ciphertext', value: bytes } } });
    const got = await h.client.getHistory({ userId: 'alice', chatId: chat, limit: 1 });
    expect(Buffer.from(got.messages[0]!.body!.content.value as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
  });

  it('answers a repeat from its dedupe row, and one whose row a crash lost from the log tail, never committing twice', async () => {
    const chat = 'chat-heal';
    member(chat, 'alice');
    await send(chat, 'alice', 'before');
    // The dedupe row is a plain row with the seq, written with the commit.
    const id = cmid();
    const second = await send(chat, 'alice', 'second', id);
    const dedupeRow = (await h.cql.execute('SELECT message_id, seq FROM message_dedupe WHERE sender = ? AND chat_id = ? AND client_key = ?', ['alice', chat, id], { prepare: true })).first();
    expect(dedupeRow?.['message_id']).toBe(second.messageId);
    expect(String(dedupeRow?.['seq'])).toBe(String(second.seq));
    // A crash between the log write and the dedupe row: drop the row, and make the process forget (a new
    // shard holder starts from the log: its tail seeds the dedupe memory).
    await h.cql.execute('DELETE FROM message_dedupe WHERE sender = ? AND chat_id = ? AND client_key = ?', ['alice', chat, id], { prepare: true });
    (h.svc.ctx.sequencer as unknown as { recent: { clear(): void } }).recent.clear();
    (h.svc.ctx.sequencer as unknown as { chats: Map<string, { epoch?: bigint }> }).chats.get(chat)!.epoch = undefined;
    expect(await send(chat, 'alice', 'second', id)).toMatchObject({ messageId: second.messageId, seq: second.seq, duplicate: true });
    const hist = await h.client.getHistory({ userId: 'alice', chatId: chat, limit: 10 });
    expect(hist.messages.map((m) => m.seq)).toEqual([1n, 2n]);
  });
});

describe('membership in the sequence', () => {
  it('history never shows a member anything before it joined; a removed member can neither send nor read (even with a warm cache)', async () => {
    const chat = 'chat-members';
    member(chat, 'alice');
    member(chat, 'bob');
    for (let i = 0; i < 3; i++) await send(chat, 'bob', `b${i}`); // 1..3 (bob's membership now cached)
    const added = await h.client.appendSystemMessage({ chatId: chat, idempotencyKey: 'op-add-carol', system: { action: commonV1.SystemAction.MEMBERS_ADDED, actor: 'alice', userIds: ['carol'] } });
    expect(added.message?.seq).toBe(4n);
    expect((await h.client.appendSystemMessage({ chatId: chat, idempotencyKey: 'op-add-carol', system: { action: commonV1.SystemAction.MEMBERS_ADDED, actor: 'alice', userIds: ['carol'] } })).duplicate).toBe(true);
    member(chat, 'carol', 4n);
    await send(chat, 'alice', 'a5'); // 5
    // bob is removed at 6: pending first (as the group service does), then finalized.
    member(chat, 'bob', 1n, 0n, true);
    const removed = await h.client.appendSystemMessage({ chatId: chat, idempotencyKey: 'op-rm-bob', system: { action: commonV1.SystemAction.MEMBERS_REMOVED, actor: 'alice', userIds: ['bob'] } });
    expect(removed.message?.seq).toBe(6n);
    expect(await codeOf(send(chat, 'bob', 'still here?'))).toBe('not_member');
    member(chat, 'bob', 1n, 6n);
    expect(await codeOf(send(chat, 'bob', 'still here?'))).toBe('not_member');
    await send(chat, 'alice', 'a7'); // 7

    const carol = await h.client.getHistory({ userId: 'carol', chatId: chat, limit: 50 });
    expect(carol.messages.map((m) => m.seq)).toEqual([4n, 5n, 6n, 7n]);
    const carolBefore = await h.client.getHistory({ userId: 'carol', chatId: chat, beforeSeq: 6n, limit: 50 });
    expect(carolBefore.messages.map((m) => m.seq)).toEqual([4n, 5n]);
    // Protocol §8.8: only members read a chat — a removed member gets not_member, whatever the window.
    expect(await codeOf(h.client.getHistory({ userId: 'bob', chatId: chat, limit: 50 }))).toBe('not_member');
    expect(await codeOf(h.client.getHistory({ userId: 'bob', chatId: chat, afterSeq: 5n, limit: 50 }))).toBe('not_member');
    const alicePage = await h.client.getHistory({ userId: 'alice', chatId: chat, beforeSeq: 7n, limit: 2 });
    expect(alicePage.messages.map((m) => m.seq)).toEqual([5n, 6n]);
    expect(alicePage.hasMore).toBe(true);
    const aliceAfter = await h.client.getHistory({ userId: 'alice', chatId: chat, afterSeq: 2n, beforeSeq: 5n });
    expect(aliceAfter.messages.map((m) => m.seq)).toEqual([3n, 4n]);
    expect(aliceAfter.hasMore).toBe(false);
    expect(await codeOf(h.client.getHistory({ userId: 'mallory', chatId: chat, limit: 5 }))).toBe('not_member');
    expect(await codeOf(h.client.getHistory({ userId: 'alice', chatId: chat, limit: 101 }))).toBe('bad_request');
  });
});

describe('inbox', () => {
  it('ack → the backlog excludes acked messages; acks beyond a gap are kept until it fills; delivered receipts', async () => {
    const chat = 'chat-inbox';
    member(chat, 'alice');
    member(chat, 'bob');
    for (let i = 1; i <= 6; i++) await send(chat, 'alice', `m${i}`);
    const backlog = async (deviceId = 'bob-phone') => {
      const seqs: bigint[] = [];
      for await (const r of h.client.streamBacklog({ userId: 'bob', deviceId })) if (r.message?.chatId === chat) seqs.push(r.message.seq);
      return seqs;
    };
    expect(await backlog()).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    await h.client.ackMessages({ userId: 'bob', deviceId: 'bob-phone', items: [1n, 2n, 4n, 6n].map((seq) => ({ chatId: chat, seq })) });
    expect(await backlog()).toEqual([3n, 5n]);
    await h.client.ackMessages({ userId: 'bob', deviceId: 'bob-phone', items: [{ chatId: chat, seq: 3n }, { chatId: chat, seq: 99n }] });
    expect(await backlog()).toEqual([5n]);
    // Another device of bob has its own cursor.
    expect(await backlog('bob-laptop')).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    await h.client.ackMessages({ userId: 'bob', deviceId: 'bob-phone', items: [{ chatId: chat, seq: 5n }] });
    expect(await backlog()).toEqual([]);
    // Acks from a non-member change nothing.
    await h.client.ackMessages({ userId: 'mallory', deviceId: 'm', items: [{ chatId: chat, seq: 1n }] });
    await waitFor(() => h.receipts.filter((r) => r.chatId === chat).flatMap((r) => r.seqs).length >= 6, 15_000, 'receipts');
    const delivered = h.receipts.filter((r) => r.chatId === chat);
    expect(delivered.every((r) => r.userId === 'bob')).toBe(true);
    expect(delivered.flatMap((r) => r.seqs).sort((a, b) => Number(a - b))).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
  });

  it("the sender's other devices get its messages from the backlog; the sending device does not", async () => {
    const chat = 'chat-own';
    member(chat, 'alice');
    member(chat, 'bob');
    await send(chat, 'alice', 'from phone', cmid(), 'alice-phone');
    const stream = async (deviceId: string) => {
      const seqs: bigint[] = [];
      for await (const r of h.client.streamBacklog({ userId: 'alice', deviceId })) if (r.message?.chatId === chat) seqs.push(r.message.seq);
      return seqs;
    };
    expect(await stream('alice-phone')).toEqual([]);
    expect(await stream('alice-laptop')).toEqual([1n]);
  });

  it('mark read publishes a read receipt clamped to the head', async () => {
    const chat = 'chat-read';
    member(chat, 'alice');
    member(chat, 'bob');
    await send(chat, 'alice');
    await h.client.markRead({ userId: 'bob', deviceId: 'bob-phone', chatId: chat, seq: 50n });
    const r = await waitFor(() => h.receipts.find((x) => x.chatId === chat && x.status === 2), 15_000, 'read receipt');
    expect(r.upToSeq).toBe(1n);
    expect(await codeOf(h.client.markRead({ userId: 'mallory', deviceId: 'x', chatId: chat, seq: 1n }))).toBe('not_member');
  });
});

describe('fan-out', () => {
  it('publishes one GatewayDelivery per gateway (never to the sending device) and push requests for offline devices', async () => {
    const chat = 'chat-fanout';
    member(chat, 'alice');
    member(chat, 'bob');
    member(chat, 'carol');
    h.peers.session.routes.set('alice', [
      { deviceId: 'alice-phone', online: true, gatewayId: 'gw-a', connectionId: 'c1' },
      { deviceId: 'alice-laptop', online: true, gatewayId: 'gw-b', connectionId: 'c2' },
    ]);
    h.peers.session.routes.set('bob', [{ deviceId: 'bob-phone', online: true, gatewayId: 'gw-a', connectionId: 'c3' }]);
    h.peers.session.routes.set('carol', [{ deviceId: 'carol-phone', online: false, gatewayId: '', connectionId: '' }]);
    const r = await send(chat, 'alice', 'fan me out', cmid(), 'alice-phone');
    const forMsg = () => h.deliveries.filter((d) => d.delivery.payload.case === 'message' && d.delivery.payload.value.messageId === r.messageId);
    await waitFor(() => forMsg().length >= 2, 20_000, 'gateway deliveries');
    const push = await waitFor(() => h.pushes.find((p) => p.messageId === r.messageId), 20_000, 'push request');
    await new Promise((res) => setTimeout(res, 300));
    const byGw = new Map(forMsg().map((d) => [d.gatewayId, d.delivery.targets.map((t) => t.deviceId).sort()]));
    expect(forMsg()).toHaveLength(2);
    expect(byGw.get('gw-a')).toEqual(['bob-phone']);
    expect(byGw.get('gw-b')).toEqual(['alice-laptop']);
    expect(push).toMatchObject({ userId: 'carol', deviceId: 'carol-phone', chatId: chat, seq: r.seq, senderUserId: 'alice' });

    // A removal at n: the removed user gets n, and nothing after.
    member(chat, 'bob', 1n, 0n, true);
    const rm = await h.client.appendSystemMessage({ chatId: chat, idempotencyKey: 'fan-rm-bob', system: { action: commonV1.SystemAction.MEMBERS_REMOVED, actor: 'alice', userIds: ['bob'] } });
    member(chat, 'bob', 1n, rm.message!.seq);
    const after = await send(chat, 'alice', 'bob is gone', cmid(), 'alice-phone');
    await waitFor(() => h.deliveries.some((d) => d.delivery.payload.case === 'message' && d.delivery.payload.value.messageId === after.messageId), 20_000, 'after');
    const bobGot = h.deliveries
      .filter((d) => d.delivery.payload.case === 'message' && d.delivery.payload.value.chatId === chat && d.delivery.targets.some((t) => t.userId === 'bob'))
      .map((d) => (d.delivery.payload.value as commonV1.Message).seq);
    expect(bobGot).toEqual([r.seq, rm.message!.seq]);
  }, 60_000);
});
