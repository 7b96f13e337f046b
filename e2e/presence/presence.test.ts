// Presence, typing and settings end to end through two gateways (protocol §4, §8.6, §8.7;
// docs/protocol.md "Presence", "Typing", "Settings"), including the lastSeen privacy matrix, flapping,
// a silent network loss and bad input.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Presence } from '@parley/client';
import {
  Device,
  HEARTBEAT_MS,
  devicesOf,
  errorCode,
  newUsers,
  retryUnavailable,
  presenceEvents,
  presenceMesh,
  sleep,
  typingEvents,
  type Mesh,
  type User,
} from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await presenceMesh({ PRESENCE_TYPING_MAX_MEMBERS: '3', GATEWAY_RATE_TYPING_PER_MINUTE: '60', GATEWAY_RATE_TYPING_BURST: '6' });
});
afterAll(async () => {
  await mesh?.stop();
});

async function one(user: User, gw: number): Promise<Device> {
  const [d] = await devicesOf(mesh, user, 1);
  await d!.connect(gw);
  return d!;
}

const lastOf = (d: Device, userId: string): Presence | undefined => presenceEvents(d, userId).at(-1);

/** A bare WebSocket client (run from e2e/, where `ws` resolves) that prints `ready` on session.ready. */
const SILENT_CLIENT = `const WebSocket = require('ws');
const ws = new WebSocket(process.env.WS_URL, { headers: { Authorization: 'Bearer ' + process.env.WS_TOKEN } });
ws.on('message', (m) => { if (String(m).includes('session.ready')) process.stdout.write('ready\\n'); });
ws.on('error', () => {});`;

describe('presence', () => {
  it('subscribe returns the current state, then online/offline events across gateways; a clean close shows within 1 s', async () => {
    const [w, t] = await newUsers(mesh, 2, 'pr');
    const wd = await one(w!, 0);
    const res = await wd.c.request('presence.subscribe', { userIds: [t!.userId, 'no-such-user-xyz', w!.userId] });
    expect(res.presence).toEqual([
      { userId: t!.userId, status: 'offline' },
      { userId: 'no-such-user-xyz', status: 'offline' },
      { userId: w!.userId, status: 'online' },
    ]);
    const td = await one(t!, 1);
    await wd.until(() => lastOf(wd, t!.userId)?.status === 'online', 5000, 'online event');
    const t0 = Date.now();
    await td.disconnect();
    await wd.until(() => lastOf(wd, t!.userId)?.status === 'offline', 1000, 'offline event within 1 s');
    const off = lastOf(wd, t!.userId)!;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(Date.parse(off.lastSeen!)).toBeGreaterThanOrEqual(t0 - 100);
    // the state now includes lastSeen
    const again = await wd.c.request('presence.subscribe', { userIds: [t!.userId] });
    expect(again.presence[0]).toEqual({ userId: t!.userId, status: 'offline', lastSeen: off.lastSeen });
    // unsubscribe: no more events
    await wd.c.request('presence.unsubscribe', { userIds: [t!.userId] });
    const count = presenceEvents(wd, t!.userId).length;
    await td.connect(0);
    await sleep(1000);
    expect(presenceEvents(wd, t!.userId)).toHaveLength(count);
    await td.disconnect();
    await wd.disconnect();
  });

  it('online while any device is connected; a reconnect within the grace window shows no offline/online pair', async () => {
    const [w, t] = await newUsers(mesh, 2, 'pf');
    const wd = await one(w!, 1);
    const [t1, t2] = await devicesOf(mesh, t!, 2);
    await t1!.connect(0);
    await t2!.connect(1);
    await wd.c.request('presence.subscribe', { userIds: [t!.userId] });
    await t1!.disconnect(); // t2 still online
    await sleep(800);
    expect(presenceEvents(wd, t!.userId)).toHaveLength(0);
    // a drop without a close frame, then a reconnect at once (e.g. switching networks)
    t2!.c.terminate();
    await sleep(200);
    await t2!.connect(0);
    await sleep(3000);
    expect(presenceEvents(wd, t!.userId)).toHaveLength(0);
    await t2!.disconnect();
    await wd.until(() => lastOf(wd, t!.userId)?.status === 'offline', 1000, 'offline after the clean close');
    await wd.disconnect();
  });

  it('a silent network loss (the client process paused: socket open, nothing answers) shows offline within 2.5 heartbeat intervals', async () => {
    const [w, t] = await newUsers(mesh, 2, 'ps');
    const wd = await one(w!, 0);
    const [td] = await devicesOf(mesh, t!, 1);
    await wd.c.request('presence.subscribe', { userIds: [t!.userId] });
    // A separate client process; SIGSTOP freezes it with its TCP connection up (no FIN, the kernel still
    // ACKs), so the gateway sees exactly what a lost network looks like: pings nobody answers.
    const child = spawn(process.execPath, ['-e', SILENT_CLIENT], {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, WS_URL: mesh.wsUrls[1]!, WS_TOKEN: td!.accessToken },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`client exited with ${code}`)));
      });
      await wd.until(() => lastOf(wd, t!.userId)?.status === 'online', 5000, 'online');
      process.kill(child.pid!, 'SIGSTOP');
      const t0 = Date.now();
      await wd.until(() => lastOf(wd, t!.userId)?.status === 'offline', 2.5 * HEARTBEAT_MS, 'offline after the client froze');
      expect(Date.now() - t0).toBeLessThanOrEqual(2.5 * HEARTBEAT_MS);
      expect(lastOf(wd, t!.userId)!.lastSeen).toBeDefined();
    } finally {
      child.kill('SIGKILL');
    }
    await wd.disconnect();
  });

  it('bad input: more than 500 ids is bad_request; unknown ids are simply offline', async () => {
    const [w] = await newUsers(mesh, 1, 'pb');
    const wd = await one(w!, 0);
    const ids = Array.from({ length: 501 }, (_, i) => `x${i}`);
    expect(await errorCode(wd.c.request('presence.subscribe', { userIds: ids }))).toBe('bad_request');
    const ok = await wd.c.request('presence.subscribe', { userIds: ids.slice(0, 500) });
    expect(ok.presence).toHaveLength(500);
    expect(ok.presence.every((p) => p.status === 'offline' && p.lastSeen === undefined)).toBe(true);
    await wd.disconnect();
  });

  it('lastSeen privacy: everyone / contacts / nobody × contact / stranger, on reads and on events', async () => {
    const [ev, co, no, contact, stranger] = await newUsers(mesh, 5, 'pp');
    const owners = { everyone: ev!, contacts: co!, nobody: no! };
    const cd = await one(contact!, 0);
    const sd = await one(stranger!, 1);
    for (const [setting, u] of Object.entries(owners)) {
      const od = await one(u, setting === 'contacts' ? 1 : 0);
      const r = await od.c.request('settings.update', { lastSeen: setting as 'everyone' });
      expect(r.settings.lastSeen).toBe(setting);
      await od.c.request('chat.create', { type: 'direct', userId: contact!.userId });
      await od.disconnect();
    }
    const ids = Object.values(owners).map((u) => u.userId);
    const seen = async (d: Device) => (await d.c.request('presence.subscribe', { userIds: ids })).presence.map((p) => p.lastSeen !== undefined);
    // reads: [everyone, contacts, nobody]
    expect(await seen(cd)).toEqual([true, true, false]);
    expect(await seen(sd)).toEqual([true, false, false]);
    // events: each owner comes and goes again
    for (const u of Object.values(owners)) {
      const od = await one(u, 1);
      await od.disconnect();
    }
    for (const d of [cd, sd]) {
      await d.until(() => ids.every((id) => lastOf(d, id)?.status === 'offline'), 5000, 'offline events');
    }
    expect(ids.map((id) => lastOf(cd, id)!.lastSeen !== undefined)).toEqual([true, true, false]);
    expect(ids.map((id) => lastOf(sd, id)!.lastSeen !== undefined)).toEqual([true, false, false]);
    // online/offline itself is visible to everyone
    expect(ids.map((id) => lastOf(sd, id)!.status)).toEqual(['offline', 'offline', 'offline']);
    await cd.disconnect();
    await sd.disconnect();
  });
});

describe('typing', () => {
  it('goes to the online devices of the other members only, lapses to paused after 6 s, and is cut off in big chats', async () => {
    const [a, b, c, d] = await newUsers(mesh, 4, 'ty');
    const [a1, a2] = await devicesOf(mesh, a!, 2);
    await a1!.connect(0);
    await a2!.connect(1);
    const bd = await one(b!, 1);
    const chatId = (await a1!.c.request('chat.create', { type: 'direct', userId: b!.userId })).chat.chatId;
    await a1!.c.request('typing', { chatId, state: 'typing' });
    await bd.until(() => typingEvents(bd, chatId).some((t) => t.state === 'typing' && t.userId === a!.userId), 5000, 'typing');
    const t0 = Date.now();
    await bd.until(() => typingEvents(bd, chatId).at(-1)?.state === 'paused', 9000, 'lapse to paused');
    const lapse = Date.now() - t0;
    expect(lapse).toBeGreaterThan(4500);
    expect(lapse).toBeLessThan(7500);
    expect(typingEvents(a2!, chatId)).toHaveLength(0); // not to the typist's own devices
    // explicit paused
    await a1!.c.request('typing', { chatId, state: 'typing' });
    await a1!.c.request('typing', { chatId, state: 'paused' });
    await bd.until(() => typingEvents(bd, chatId).filter((t) => t.state === 'paused').length >= 2, 5000, 'explicit paused');
    // a group above PRESENCE_TYPING_MAX_MEMBERS (3 in this mesh): accepted, relayed to nobody
    const cd = await one(c!, 0);
    await one(d!, 1);
    const big = (await a1!.c.request('chat.create', { type: 'group', name: 'big', members: [b!.userId, c!.userId, d!.userId] })).chat;
    await a1!.c.request('typing', { chatId: big.chatId, state: 'typing' });
    const small = (await a1!.c.request('chat.create', { type: 'group', name: 'small', members: [c!.userId] })).chat;
    await a1!.c.request('typing', { chatId: small.chatId, state: 'typing' });
    await cd.until(() => typingEvents(cd, small.chatId).length > 0, 5000, 'typing in the small group');
    expect(typingEvents(cd, big.chatId)).toHaveLength(0);
    expect(typingEvents(bd, big.chatId)).toHaveLength(0);
  });

  it('is rate limited by the gateway (typing class: burst 6 in this mesh)', async () => {
    const [a, b] = await newUsers(mesh, 2, 'tr');
    const ad = await one(a!, 0);
    const chatId = (await ad.c.request('chat.create', { type: 'direct', userId: b!.userId })).chat.chatId;
    const codes: string[] = [];
    for (let i = 0; i < 9; i++) codes.push(await ad.c.request('typing', { chatId, state: 'typing' }).then(() => 'ok', (e: { code: string }) => e.code));
    expect(codes.slice(0, 6)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(codes.slice(6)).toContain('rate_limited');
    await ad.disconnect();
  });
});

describe('settings', () => {
  it('update returns the whole object, get shows it, bad values name the field, and it survives a presence restart', async () => {
    const [u] = await newUsers(mesh, 1, 'st');
    const [d1, d2] = await devicesOf(mesh, u!, 2);
    await d1!.connect(0);
    expect((await d1!.c.request('settings.get', {})).settings).toEqual({ lastSeen: 'everyone', readReceipts: true });
    expect((await d1!.c.request('settings.update', { lastSeen: 'nobody' })).settings).toEqual({ lastSeen: 'nobody', readReceipts: true });
    expect((await d1!.c.request('settings.update', { readReceipts: false })).settings).toEqual({ lastSeen: 'nobody', readReceipts: false });
    for (const bad of [{ lastSeen: 'friends' }, { readReceipts: 'no' }]) {
      const err = await d1!.c.request('settings.update', bad as never).then(
        () => undefined,
        (e: { code: string; message: string }) => e,
      );
      expect(err?.code).toBe('bad_request');
      expect(err?.message).toContain(Object.keys(bad)[0]);
    }
    await d1!.disconnect();
    await mesh.restart('presence');
    await d2!.connect(1);
    // `unavailable` is retryable: the gateway's gRPC channel reconnects to the restarted service
    expect((await retryUnavailable(() => d2!.c.request('settings.get', {}))).settings).toEqual({ lastSeen: 'nobody', readReceipts: false });
    await d2!.disconnect();
  });
});
