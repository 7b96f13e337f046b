// protocol.md §8.8: a client can never act as another user or device, whatever ids it puts in a frame.
// Needs group and message (a chat to act in).
import { ParleyHttp, connect, signUp } from '@parley/client';
import { edgeMesh, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await edgeMesh({}, ['session', 'group', 'message']);
});
afterAll(async () => {
  await mesh?.stop();
});

it('ids in frames are ignored: the token decides who acts', async () => {
  const alice = await signUp(mesh.gatewayUrls[0]!);
  const mallory = await signUp(mesh.gatewayUrls[0]!);
  const a = await connect(mesh.wsUrls[0]!, alice.accessToken);
  const m = await connect(mesh.wsUrls[1]!, mallory.accessToken);
  const { chat } = await a.request('chat.create', { type: 'group', name: 'private', members: [] });
  const spoof = { userId: alice.userId, deviceId: alice.deviceId, actorUserId: alice.userId, sender: { userId: alice.userId, deviceId: alice.deviceId } };

  // Mallory, claiming to be Alice in every field she can think of, is still not a member.
  await expect(m.request('message.send', { chatId: chat.chatId, clientMsgId: 'spoofed-1', body: { text: 'hi' }, ...spoof } as never)).rejects.toMatchObject({
    code: expect.stringMatching(/^(not_member|forbidden|not_found)$/),
  });
  await expect(m.request('message.history', { chatId: chat.chatId, ...spoof } as never)).rejects.toMatchObject({
    code: expect.stringMatching(/^(not_member|forbidden|not_found)$/),
  });
  await expect(m.request('chat.get', { chatId: chat.chatId, ...spoof } as never)).rejects.toMatchObject({
    code: expect.stringMatching(/^(not_member|forbidden|not_found)$/),
  });
  await expect(m.request('chat.members.add', { chatId: chat.chatId, userIds: [mallory.userId], ...spoof } as never)).rejects.toMatchObject({
    code: expect.stringMatching(/^(not_member|forbidden|not_found)$/),
  });

  // Alice sending with Mallory's ids in the frame still sends as Alice, from Alice's device.
  await a.request('message.send', { chatId: chat.chatId, clientMsgId: 'alice-msg-1', body: { text: 'mine' }, userId: mallory.userId, deviceId: mallory.deviceId } as never);
  const { messages } = await a.request('message.history', { chatId: chat.chatId });
  const mine = messages.find((x) => x.clientMsgId === 'alice-msg-1');
  expect(mine?.sender).toEqual({ userId: alice.userId, deviceId: alice.deviceId });
  expect(messages.every((x) => x.sender.userId !== mallory.userId)).toBe(true);

  // Over HTTP, the path names a device but the token decides whose.
  expect((await new ParleyHttp(mesh.gatewayUrls[1]!, mallory.accessToken).raw('DELETE', `/v1/devices/${alice.deviceId}`)).status).toBe(404);
  await expect(a.request('ping', {})).resolves.toBeDefined();
  await a.close();
  await m.close();
});
