// Shared helpers of the chat e2e suites (not a test file): a mesh with every service, users with
// several devices on either gateway, and a Device that records every `message.new` it receives so the
// suites can prove per-device delivery (protocol.md §8.2, §8.4) rather than infer it from history.
import { mapLimit } from '@parley/kit';
import { LOOSE_AUTH_RATES, startMesh, type Mesh } from '@parley/testing';
import {
  ParleyHttp,
  ParleyRequestError,
  connect,
  randomUsername,
  type Chat,
  type Message,
  type MessageBody,
  type ParleyConnection,
  type ServerEvent,
} from '@parley/client';

export type { Mesh };

// jest 30 does not apply a project-level `testTimeout` (jest.config.js sets it on the e2e project, yet hooks
// and tests time out at the 5 s default), so every chat suite sets it here, when it imports the helpers.
jest.setTimeout(180_000);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rate limits far above anything a suite does: the limits themselves are covered by e2e/edge. */
export const LOOSE_RATES: Record<string, string> = Object.fromEntries(
  ['SEND', 'TYPING', 'MUTATE', 'READ', 'ACK', 'MISC'].flatMap((c) => [
    [`GATEWAY_RATE_${c}_PER_MINUTE`, '6000000'],
    [`GATEWAY_RATE_${c}_BURST`, '100000'],
  ])
    .concat(Object.entries(LOOSE_AUTH_RATES))
    .concat([
      ['GROUP_RATE_CREATE_PER_MINUTE', '6000000'],
      ['GROUP_RATE_CREATE_BURST', '100000'],
      ['GROUP_RATE_MEMBERS_ADDED_PER_MINUTE', '6000000'],
      ['GROUP_RATE_MEMBERS_ADDED_BURST', '1000000'],
    ]),
);

/** The whole mesh (all six services, two gateways), cheap password hashing, loose rate limits. */
export function chatMesh(env: Record<string, string> = {}, more: { messageReplicas?: number } = {}): Promise<Mesh> {
  return startMesh({
    gateways: 2,
    ...more,
    env: { PARLEY_LOG_LEVEL: 'warn', SESSION_SCRYPT_COST: '1024', SESSION_SCRYPT_PARALLELISM: '1', ...LOOSE_RATES, ...env },
  });
}

export interface User {
  userId: string;
  username: string;
  password: string;
}

const PASSWORD = 'correct horse battery';

export async function newUser(mesh: Mesh, prefix = 'u'): Promise<User> {
  const username = randomUsername(prefix);
  const { userId } = await new ParleyHttp(mesh.gatewayUrls[0]!).createAccount({ username, password: PASSWORD });
  return { userId, username, password: PASSWORD };
}

export async function newUsers(mesh: Mesh, n: number, prefix = 'u', concurrency = 16): Promise<User[]> {
  return mapLimit(Array.from({ length: n }, (_, i) => i), concurrency, () => newUser(mesh, prefix));
}

export { mapLimit };

const key = (chatId: string, seq: number) => `${chatId}#${seq}`;

/**
 * One logged-in device of a user. `login()` creates the device (POST /v1/sessions); `connect()` opens a
 * WebSocket on a gateway (and can be called again after `disconnect()` to reconnect the same device).
 * Every `message.new` is recorded: `deliveries` counts raw deliveries per (chatId, seq), `messages`
 * holds the deduped set.
 */
export class Device {
  conn: ParleyConnection | undefined;
  deviceId = '';
  accessToken = '';
  /** chatId → seq → message (deduped by chatId+seq, as clients must). */
  readonly messages = new Map<string, Map<number, Message>>();
  /** Raw number of `message.new` frames per chatId#seq, over every connection of this device. */
  readonly deliveries = new Map<string, number>();
  /** Every event of every connection, in arrival order, tagged with the connection number. */
  readonly log: { n: number; ev: ServerEvent }[] = [];
  /** When each chatId#seq was first received (Date.now()). */
  readonly firstAt = new Map<string, number>();
  /** When the last event arrived. */
  lastEventAt = 0;
  private connections = 0;
  private waiters = new Set<() => void>();

  constructor(
    readonly mesh: Mesh,
    readonly user: User,
    readonly name = 'device',
  ) {}

  get userId(): string {
    return this.user.userId;
  }

  async login(): Promise<this> {
    const t = await new ParleyHttp(this.mesh.gatewayUrls[0]!).login({
      username: this.user.username,
      password: this.user.password,
      deviceName: this.name,
    });
    this.deviceId = t.deviceId;
    this.accessToken = t.accessToken;
    return this;
  }

  async connect(gw: number): Promise<ParleyConnection> {
    if (!this.accessToken) await this.login();
    const conn = await connect(this.mesh.wsUrls[gw]!, this.accessToken, { requestTimeoutMs: 15_000 });
    const n = ++this.connections;
    this.conn = conn;
    // Events that arrived before `connect` resolved (session.ready, early backlog) are in conn.events;
    // the listener, attached in the same synchronous step, sees exactly the ones after.
    for (const ev of conn.events) this.record(n, ev);
    conn.on('*', (_data, ev) => this.record(n, ev));
    return conn;
  }

  /** Close the WebSocket cleanly and wait until it is closed. */
  async disconnect(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    if (c) await c.close();
  }

  /** The current connection (throws if not connected). */
  get c(): ParleyConnection {
    if (!this.conn) throw new Error(`${this.name} is not connected`);
    return this.conn;
  }

  private record(n: number, ev: ServerEvent): void {
    this.log.push({ n, ev });
    this.lastEventAt = Date.now();
    if (ev.event === 'message.new') {
      const m = (ev.data as { message: Message }).message;
      const k = key(m.chatId, m.seq);
      this.deliveries.set(k, (this.deliveries.get(k) ?? 0) + 1);
      if (!this.firstAt.has(k)) this.firstAt.set(k, Date.now());
      let chat = this.messages.get(m.chatId);
      if (!chat) this.messages.set(m.chatId, (chat = new Map()));
      if (!chat.has(m.seq)) chat.set(m.seq, m);
    }
    for (const w of [...this.waiters]) w();
  }

  /** Events of one connection (default: the latest), in arrival order. */
  eventsOf(n = this.connections): ServerEvent[] {
    return this.log.filter((l) => l.n === n).map((l) => l.ev);
  }

  /** `message.new` of one connection, in arrival order. */
  newOf(n = this.connections, chatId?: string): Message[] {
    return this.eventsOf(n)
      .filter((e) => e.event === 'message.new')
      .map((e) => (e.data as { message: Message }).message)
      .filter((m) => chatId === undefined || m.chatId === chatId);
  }

  get connectionNumber(): number {
    return this.connections;
  }

  seqs(chatId: string): number[] {
    return [...(this.messages.get(chatId)?.keys() ?? [])].sort((a, b) => a - b);
  }

  has(chatId: string, seq: number): boolean {
    return this.messages.get(chatId)?.has(seq) ?? false;
  }

  deliveryCount(chatId: string, seq: number): number {
    return this.deliveries.get(key(chatId, seq)) ?? 0;
  }

  /** Wait until `cond()` holds, re-checked on every event; rejects after timeoutMs with `what`. */
  until(cond: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (cond()) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name} (${this.userId}/${this.deviceId}): timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  waitForSeqs(chatId: string, seqs: readonly number[], timeoutMs = 15_000): Promise<void> {
    return this.until(() => seqs.every((s) => this.has(chatId, s)), timeoutMs, `seqs ${seqs.join(',')} of ${chatId}; has ${this.seqs(chatId).join(',')}`);
  }

  /** Wait for `inbox.drained` on the current connection. */
  waitDrained(timeoutMs = 15_000): Promise<{ count: number }> {
    const n = this.connections;
    return this.until(() => this.eventsOf(n).some((e) => e.event === 'inbox.drained'), timeoutMs, 'inbox.drained').then(
      () => this.eventsOf(n).find((e) => e.event === 'inbox.drained')!.data as { count: number },
    );
  }

  /** Ack everything this device holds in a chat (in batches of ≤ 500). */
  async ackAll(chatId: string): Promise<void> {
    const items = this.seqs(chatId).map((seq) => ({ chatId, seq }));
    for (let i = 0; i < items.length; i += 500) await this.c.request('message.ack', { items: items.slice(i, i + 500) });
  }
}

/** A user plus its devices (each logged in, not yet connected). */
export async function devicesOf(mesh: Mesh, user: User, n: number): Promise<Device[]> {
  const out: Device[] = [];
  for (let i = 0; i < n; i++) out.push(await new Device(mesh, user, `${user.username}-d${i}`).login());
  return out;
}

/** Full history of a chat as seen by a device, paging backwards with the default limit, ascending. */
export async function fullHistory(conn: ParleyConnection, chatId: string): Promise<Message[]> {
  const pages: Message[][] = [];
  let before: number | undefined;
  for (;;) {
    const res = await conn.request('message.history', { chatId, limit: 100, ...(before !== undefined ? { beforeSeq: before } : {}) });
    pages.unshift(res.messages);
    if (!res.hasMore || res.messages.length === 0) break;
    before = res.messages[0]!.seq;
  }
  return pages.flat();
}

/** The error code a request fails with (throws if it succeeds). */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ParleyRequestError) return e.code;
    throw e;
  }
  throw new Error('the request succeeded');
}

export function memberIds(chat: Chat): string[] {
  return chat.members.map((m) => m.userId).sort();
}

export function roleOf(chat: Chat, userId: string): string | undefined {
  return chat.members.find((m) => m.userId === userId)?.role;
}

let cmid = 0;
/** A fresh clientMsgId (8–64 chars). */
export function clientMsgId(prefix = 'cm'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${++cmid}-${Math.random().toString(36).slice(2, 8)}`;
}

export function text(s: string): MessageBody {
  return { text: s };
}

/** Assert that a list of seqs is exactly from..to with no gap and no duplicate. */
export function expectContiguous(seqs: readonly number[], from: number, to: number): void {
  const want = Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
  expect([...seqs].sort((a, b) => a - b)).toEqual(want);
}
