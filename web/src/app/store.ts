// The client's state and everything it does with the server: chats, messages (deduped by chat and seq,
// shown in seq order), the outbox (sent with a fixed clientMsgId until the server answers, so a resend
// after a reconnect is idempotent), receipts, typing, presence, acks and read markers. The UI renders
// from it and calls its methods; `subscribe` tells it when to re-render.
import {
  GapFiller,
  ParleyHttpError,
  ParleyRequestError,
  type Chat,
  type DeviceInfo,
  type Events,
  type Message,
  type ParleyConnection,
  type Presence,
  type UserInfo,
} from '@parley/client';
import { Live, loadGateways, type LiveState } from './live.js';
import { Session } from './session.js';

export interface Pending {
  clientMsgId: string;
  chatId: string;
  text: string;
  replyTo?: number;
  attachments?: string[];
  createdAt: string;
  failed?: string;
}

export interface ChatState {
  chat: Chat;
  messages: Map<number, Message>;
  /** The lowest seq loaded, and whether history goes further back. */
  hasMoreBefore: boolean;
  /** Highest seq this user has read (own marker, shared by the user's devices through `read` receipts). */
  readUpTo: number;
  /** Highest seq we told the server we read. */
  readSent: number;
  /** userId → seqs delivered to that user. */
  deliveredTo: Map<string, Set<number>>;
  /** userId → everything up to this seq was delivered to that user (replayed watermarks). */
  deliveredUpTo: Map<string, number>;
  /** userId → read up to seq. */
  readBy: Map<string, number>;
  /** userId → when their typing lapses (epoch ms). */
  typing: Map<string, number>;
  lastActivity: string;
  /** Set when this user is no longer a member. */
  left: boolean;
}

export type Tick = 'pending' | 'sent' | 'delivered' | 'read' | 'failed';

const OUTBOX_KEY = 'parley.outbox';
/** At most this many `message.send`s in flight per connection (the gateway sheds above 128 per process). */
const SEND_WINDOW = 16;
/** presence.subscribe after `unavailable`: again after 3 s, doubling up to 30 s. */
const PRESENCE_RETRY_MS = 3000;
const PRESENCE_RETRY_MAX_MS = 30_000;
const READ_KEY = 'parley.read';

function randomId(): string {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/** A request error that means "this part of the server is not built or not up": the UI shows nothing. */
export function isUnavailable(err: unknown): boolean {
  return (
    (err instanceof ParleyRequestError && (err.code === 'unavailable' || err.code === 'closed' || err.code === 'timeout')) ||
    (err instanceof ParleyHttpError && (err.code === 'unavailable' || err.status === 503 || err.status === 501))
  );
}

export function errorText(err: unknown): string {
  if (err instanceof ParleyHttpError || err instanceof ParleyRequestError) {
    if (err.code === 'username_taken') return 'That username is taken.';
    if (err.code === 'unauthorized') return 'Wrong username or password.';
    if (err.code === 'not_found') return 'No such user.';
    if (err.code === 'rate_limited') return 'Too many attempts; wait a moment.';
    if (err.code === 'unavailable' || err.code === 'closed' || err.code === 'timeout') return 'The server is not reachable right now; try again.';
    return err.message;
  }
  if (err instanceof TypeError) return 'The server is not reachable right now; try again.';
  return err instanceof Error ? err.message : String(err);
}

export class Store {
  readonly session: Session;
  live: Live | undefined;
  state: LiveState = 'offline';
  chats = new Map<string, ChatState>();
  users = new Map<string, UserInfo>();
  presence = new Map<string, Presence>();
  outbox: Pending[] = [];
  openChatId: string | undefined;
  devices: DeviceInfo[] | undefined;
  /** A message for the whole screen (signed out, etc.). */
  notice: string | undefined;
  /** Set once the first sync after sign-in finished. */
  synced = false;
  /** Media uploads in progress: clientMsgId → fraction done. */
  uploads = new Map<string, number>();
  /** Whether the last presence.subscribe worked (undefined: not tried yet); false shows no presence at all. */
  presenceAvailable: boolean | undefined;
  /** False once the media service answered unavailable (the attach button hides). */
  mediaAvailable = true;

  private listeners = new Set<() => void>();
  private userFetches = new Map<string, Promise<UserInfo | undefined>>();
  private ackQueue: { chatId: string; seq: number }[] = [];
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private acksInFlight = 0;
  private typingSentAt = 0;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private version = 0;
  private liveToken: string | undefined;
  private scheduled = false;
  /** Outbox entries sent and not answered yet: clientMsgId → the connection they went out on. */
  private inflight = new Map<string, ParleyConnection>();
  /** Set after a retryable refusal: the outbox waits for it before sending anything new. */
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** The most sends ever in flight at once (the browser tests check that the outbox pipelines). */
  maxInflight = 0;
  /** Seq-gap detection: a live message that skips seqs makes it fetch the missing ones (packages/client gaps.ts). */
  gaps = this.newGapFiller();

  constructor(readonly origin: string) {
    this.session = new Session(origin);
    this.session.onEnded = (reason) => this.signedOut(reason);
    this.session.onChange = () => {
      // a new access token: move the live connection onto it before the old one expires
      const token = this.session.current?.accessToken;
      if (token && token !== this.liveToken) {
        if (this.liveToken) void this.live?.renew();
        this.liveToken = token;
      }
      this.changed();
    };
    setInterval(() => this.expireTyping(), 1000);
    document.addEventListener('visibilitychange', () => this.markRead());
  }

  get me(): string | undefined {
    return this.session.current?.userId;
  }

  subscribe(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  getVersion(): number {
    return this.version;
  }

  /** Coalesce many changes into one render. */
  changed(): void {
    this.version++;
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      for (const cb of this.listeners) cb();
    });
  }

  // ---- session -------------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (!this.session.current) return;
    this.session.schedule();
    this.liveToken = this.session.current.accessToken;
    this.loadLocal();
    const gateways = await loadGateways(this.origin);
    this.live = new Live(this.session, gateways);
    this.live.onState = (s) => {
      this.state = s;
      this.changed();
    };
    this.live.onReady = (conn) => this.onConnected(conn);
    this.live.onSignedOut = (reason) => this.signedOut(reason);
    this.live.start();
    void this.user(this.session.current.userId);
  }

  async signUp(username: string, password: string, displayName: string): Promise<void> {
    await this.session.signUp(username, password, displayName);
    this.notice = undefined;
    await this.start();
  }

  async logIn(username: string, password: string): Promise<void> {
    await this.session.logIn(username, password);
    this.notice = undefined;
    await this.start();
  }

  async logOut(): Promise<void> {
    this.live?.stop();
    await this.session.logOut();
    this.reset();
  }

  private signedOut(reason: string): void {
    this.live?.stop();
    this.session.clear();
    this.reset();
    this.notice = reason;
    this.changed();
  }

  private reset(): void {
    this.live = undefined;
    this.gaps.close();
    this.gaps = this.newGapFiller();
    this.chats.clear();
    this.outbox = [];
    this.inflight.clear();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.openChatId = undefined;
    this.devices = undefined;
    this.synced = false;
    this.state = 'offline';
    localStorage.removeItem(OUTBOX_KEY);
    localStorage.removeItem(READ_KEY);
    this.changed();
  }

  private loadLocal(): void {
    try {
      const me = this.me;
      const o = JSON.parse(localStorage.getItem(OUTBOX_KEY) ?? '{}') as { userId?: string; items?: Pending[] };
      if (o.userId === me && Array.isArray(o.items)) this.outbox = o.items;
    } catch {
      this.outbox = [];
    }
  }

  private saveOutbox(): void {
    localStorage.setItem(OUTBOX_KEY, JSON.stringify({ userId: this.me, items: this.outbox }));
  }

  private readMarkers(): Record<string, number> {
    try {
      const r = JSON.parse(localStorage.getItem(READ_KEY) ?? '{}') as { userId?: string; chats?: Record<string, number> };
      return r.userId === this.me && r.chats ? r.chats : {};
    } catch {
      return {};
    }
  }

  private saveReadMarkers(): void {
    const chats: Record<string, number> = {};
    for (const [id, c] of this.chats) chats[id] = c.readUpTo;
    localStorage.setItem(READ_KEY, JSON.stringify({ userId: this.me, chats }));
  }

  // ---- users ---------------------------------------------------------------------------------------

  user(userId: string): Promise<UserInfo | undefined> {
    const known = this.users.get(userId);
    if (known) return Promise.resolve(known);
    let p = this.userFetches.get(userId);
    if (!p) {
      p = this.session.http
        .getUser(userId)
        .then((u) => {
          this.users.set(userId, u);
          this.changed();
          return u;
        })
        .catch(() => undefined)
        .finally(() => this.userFetches.delete(userId));
      this.userFetches.set(userId, p);
    }
    return p;
  }

  /** The display name if known (and fetches it if not). */
  name(userId: string): string {
    if (userId === this.me) return 'You';
    const u = this.users.get(userId);
    if (!u) {
      void this.user(userId);
      return '…';
    }
    return u.displayName || u.username;
  }

  chatTitle(cs: ChatState): string {
    if (cs.chat.type === 'group') return cs.chat.name ?? 'Group';
    const other = cs.chat.members.find((m) => m.userId !== this.me) ?? cs.chat.members[0];
    return other ? this.name(other.userId) : 'Chat';
  }

  /** The other member of a direct chat. */
  peer(cs: ChatState): string | undefined {
    if (cs.chat.type !== 'direct') return undefined;
    return cs.chat.members.find((m) => m.userId !== this.me)?.userId;
  }

  // ---- connection and sync -------------------------------------------------------------------------

  private newGapFiller(): GapFiller {
    return new GapFiller(
      async (chatId, afterSeq, limit) => {
        const conn = this.live?.conn;
        if (!conn?.isOpen) throw new Error('not connected');
        return (await conn.request('message.history', { chatId, afterSeq, limit })) as { messages: Message[]; hasMore: boolean };
      },
      (msgs) => {
        // Missed live deliveries: held and acked like live ones.
        for (const m of msgs) this.onMessage(m, true);
        this.changed();
      },
    );
  }

  private async onConnected(conn: ParleyConnection): Promise<void> {
    this.gaps.connecting();
    conn.on('inbox.drained', () => this.gaps.drained());
    conn.on('message.new', (d) => this.onMessage(d.message, true));
    conn.on('chat.updated', (d) => this.upsertChat(d.chat));
    conn.on('receipt', (d) => this.onReceipt(d));
    // coalesced (groups, and the watermarks replayed on connect): items are exactly `receipt` data
    conn.on('receipts', (d) => {
      for (const r of d.receipts) this.onReceipt({ ...r, chatId: d.chatId });
    });
    conn.on('typing', (d) => this.onTyping(d));
    conn.on('presence', (d) => this.onPresence(d.presence));
    await this.sync(conn);
  }

  private async sync(conn: ParleyConnection): Promise<void> {
    const { chats } = (await conn.request('chat.list', {})) as { chats: Chat[] };
    const markers = this.readMarkers();
    const firstSync = !this.synced && Object.keys(markers).length === 0 && this.chats.size === 0;
    for (const chat of chats) {
      const cs = this.upsertChat(chat);
      if (markers[chat.chatId] !== undefined) cs.readUpTo = Math.max(cs.readUpTo, markers[chat.chatId]!);
      // A new device starts with everything read.
      else if (firstSync) cs.readUpTo = chat.lastSeq;
    }
    // Fill the gap of every chat whose lastSeq is ahead of what we hold (bounded per chat).
    await Promise.all(
      [...this.chats.values()].map(async (cs) => {
        const top = this.maxSeq(cs);
        if (cs.chat.lastSeq <= top && top > 0) return;
        try {
          if (top === 0) await this.loadLatest(conn, cs, cs.chat.chatId === this.openChatId ? 50 : 20);
          else await this.loadAfter(conn, cs, top);
        } catch {
          /* a chat that cannot be read now is tried again on the next connect */
        }
      }),
    );
    this.synced = true;
    this.saveReadMarkers();
    this.changed();
    this.flushOutbox();
    void this.subscribePresence(conn);
    this.markRead();
  }

  private async loadLatest(conn: ParleyConnection, cs: ChatState, limit: number): Promise<void> {
    const r = (await conn.request('message.history', { chatId: cs.chat.chatId, limit })) as { messages: Message[]; hasMore: boolean };
    for (const m of r.messages) this.onMessage(m, false);
    cs.hasMoreBefore = r.hasMore || (r.messages[0]?.seq ?? 1) > 1;
  }

  private async loadAfter(conn: ParleyConnection, cs: ChatState, after: number): Promise<void> {
    let from = after;
    for (let i = 0; i < 10; i++) {
      const r = (await conn.request('message.history', { chatId: cs.chat.chatId, afterSeq: from, limit: 100 })) as {
        messages: Message[];
        hasMore: boolean;
      };
      for (const m of r.messages) this.onMessage(m, false);
      const last = r.messages[r.messages.length - 1];
      if (!r.hasMore || !last) return;
      from = last.seq;
    }
  }

  /** Older messages of the open chat (scrolling up). Resolves false when there are no more. */
  async loadOlder(chatId: string): Promise<boolean> {
    const cs = this.chats.get(chatId);
    const conn = this.live?.conn;
    if (!cs || !conn || !cs.hasMoreBefore) return false;
    const lowest = this.minSeq(cs);
    if (lowest <= 1) {
      cs.hasMoreBefore = false;
      this.changed();
      return false;
    }
    const r = (await conn.request('message.history', { chatId, beforeSeq: lowest, limit: 30 })) as { messages: Message[]; hasMore: boolean };
    for (const m of r.messages) this.onMessage(m, false);
    cs.hasMoreBefore = r.hasMore;
    this.changed();
    return r.hasMore;
  }

  /**
   * Subscribe to the presence of every direct-chat peer. While the presence service answers `unavailable`
   * (not built, or down) the header shows nothing, and this tries again with backoff on the same
   * connection, so presence shows up as soon as the service does.
   */
  private async subscribePresence(conn: ParleyConnection, attempt = 0): Promise<void> {
    const peers = new Set<string>();
    for (const cs of this.chats.values()) {
      const p = this.peer(cs);
      if (p) peers.add(p);
    }
    if (peers.size === 0) return;
    try {
      const r = (await conn.request('presence.subscribe', { userIds: [...peers].slice(0, 500) })) as { presence: Presence[] };
      for (const p of r.presence) this.presence.set(p.userId, p);
      this.presenceAvailable = true;
      this.changed();
    } catch {
      if (this.presenceAvailable !== false) {
        this.presenceAvailable = false;
        this.changed();
      }
      if (!conn.isOpen) return; // the next connection subscribes again
      setTimeout(() => {
        if (conn.isOpen && this.live?.conn === conn) void this.subscribePresence(conn, attempt + 1);
      }, Math.min(PRESENCE_RETRY_MAX_MS, PRESENCE_RETRY_MS * 2 ** attempt));
    }
  }

  // ---- incoming ------------------------------------------------------------------------------------

  private newChatState(chat: Chat): ChatState {
    return {
      chat,
      messages: new Map(),
      hasMoreBefore: chat.lastSeq > 0,
      readUpTo: 0,
      readSent: 0,
      deliveredTo: new Map(),
      deliveredUpTo: new Map(),
      readBy: new Map(),
      typing: new Map(),
      lastActivity: chat.createdAt,
      left: false,
    };
  }

  upsertChat(chat: Chat): ChatState {
    let cs = this.chats.get(chat.chatId);
    if (!cs) {
      cs = this.newChatState(chat);
      this.chats.set(chat.chatId, cs);
      for (const m of chat.members) void this.user(m.userId);
      const p = this.peer(cs);
      if (p && this.live?.conn) {
        this.live.conn
          .request('presence.subscribe', { userIds: [p] })
          .then((r) => {
            for (const pr of (r as { presence: Presence[] }).presence) this.presence.set(pr.userId, pr);
            this.changed();
          })
          .catch(() => undefined);
      }
    } else {
      cs.chat = { ...chat, lastSeq: Math.max(chat.lastSeq, cs.chat.lastSeq) };
      for (const m of chat.members) void this.user(m.userId);
    }
    cs.left = !chat.members.some((m) => m.userId === this.me);
    this.changed();
    return cs;
  }

  private onMessage(m: Message, live: boolean): void {
    if (live) this.queueAck(m.chatId, m.seq);
    const cs = this.chats.get(m.chatId);
    if (!cs) {
      // A chat we have not heard of (added to a group on another connection): fetch it.
      void this.live
        ?.request('chat.get', { chatId: m.chatId })
        .then((r) => {
          const c = this.upsertChat((r as { chat: Chat }).chat);
          this.onMessage(m, false);
          if (this.maxSeq(c) < c.chat.lastSeq && this.live?.conn) void this.loadLatest(this.live.conn, c, 20).then(() => this.changed());
        })
        .catch(() => undefined);
      return;
    }
    if (cs.messages.has(m.seq)) return;
    cs.messages.set(m.seq, m);
    this.gaps.received(m);
    if (m.seq > cs.chat.lastSeq) cs.chat = { ...cs.chat, lastSeq: m.seq };
    if (m.createdAt > cs.lastActivity) cs.lastActivity = m.createdAt;
    if (m.sender.userId === this.me && m.kind === 'user') {
      // Our own message (this device or another): it is read by us, and any outbox copy is done.
      if (m.seq > cs.readUpTo) cs.readUpTo = m.seq;
      this.dropPending(m.clientMsgId);
    }
    if (m.kind === 'system') this.onSystem(cs, m);
    if (m.sender.userId !== this.me) {
      cs.typing.delete(m.sender.userId);
      void this.user(m.sender.userId);
    }
    if (live) this.markRead();
    this.changed();
  }

  private onSystem(cs: ChatState, m: Message): void {
    for (const id of m.system?.userIds ?? []) void this.user(id);
    if (m.system?.action === 'members.removed' && m.system.userIds?.includes(this.me ?? '')) {
      cs.left = true;
    }
  }

  private onReceipt(d: Events['receipt']): void {
    const cs = this.chats.get(d.chatId);
    if (!cs) return;
    if (d.status === 'delivered') {
      let set = cs.deliveredTo.get(d.userId);
      if (!set) cs.deliveredTo.set(d.userId, (set = new Set()));
      for (const s of d.seqs) set.add(s);
      // a replayed watermark: everything up to upToSeq was delivered to that user
      if (d.upToSeq !== undefined) cs.deliveredUpTo.set(d.userId, Math.max(cs.deliveredUpTo.get(d.userId) ?? 0, d.upToSeq));
    } else {
      cs.readBy.set(d.userId, Math.max(cs.readBy.get(d.userId) ?? 0, d.upToSeq));
      if (d.userId === this.me && d.upToSeq > cs.readUpTo) {
        // read on another device of ours
        cs.readUpTo = d.upToSeq;
        cs.readSent = Math.max(cs.readSent, d.upToSeq);
        this.saveReadMarkers();
      }
    }
    this.changed();
  }

  private onTyping(d: Events['typing']): void {
    if (d.userId === this.me) return;
    const cs = this.chats.get(d.chatId);
    if (!cs) return;
    if (d.state === 'typing') cs.typing.set(d.userId, Date.now() + 6000);
    else cs.typing.delete(d.userId);
    this.changed();
  }

  private onPresence(p: Presence): void {
    this.presence.set(p.userId, p);
    this.changed();
  }

  private expireTyping(): void {
    const now = Date.now();
    let any = false;
    for (const cs of this.chats.values()) {
      for (const [u, until] of cs.typing) {
        if (until < now) {
          cs.typing.delete(u);
          any = true;
        }
      }
    }
    if (any) this.changed();
  }

  private queueAck(chatId: string, seq: number): void {
    this.ackQueue.push({ chatId, seq });
    this.scheduleAck();
  }

  private scheduleAck(): void {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      const items = this.ackQueue.splice(0, 500);
      // Unacked messages are redelivered on the next connect, so a failed ack only costs a duplicate.
      const req = this.live?.request('message.ack', { items });
      if (req) {
        this.acksInFlight++;
        void req.catch(() => undefined).finally(() => this.acksInFlight--);
      }
      if (this.ackQueue.length) this.scheduleAck();
    }, 100);
  }

  /** True when every message received live has been acked (or the ack failed): nothing is waiting. */
  get acksSettled(): boolean {
    return this.ackQueue.length === 0 && !this.ackTimer && this.acksInFlight === 0;
  }

  // ---- derived -------------------------------------------------------------------------------------

  maxSeq(cs: ChatState): number {
    let m = 0;
    for (const s of cs.messages.keys()) if (s > m) m = s;
    return m;
  }

  minSeq(cs: ChatState): number {
    let m = Infinity;
    for (const s of cs.messages.keys()) if (s < m) m = s;
    return m === Infinity ? cs.chat.lastSeq + 1 : m;
  }

  sortedMessages(cs: ChatState): Message[] {
    return [...cs.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  unread(cs: ChatState): number {
    if (cs.chat.chatId === this.openChatId && document.visibilityState === 'visible') return 0;
    let n = 0;
    for (const m of cs.messages.values()) if (m.seq > cs.readUpTo && m.kind === 'user' && m.sender.userId !== this.me) n++;
    // messages not loaded yet (beyond the highest we hold) count too
    return n + Math.max(0, cs.chat.lastSeq - Math.max(this.maxSeq(cs), cs.readUpTo));
  }

  /** Chats, newest activity first. */
  chatList(): ChatState[] {
    return [...this.chats.values()].sort((a, b) => (a.lastActivity < b.lastActivity ? 1 : a.lastActivity > b.lastActivity ? -1 : 0));
  }

  lastMessage(cs: ChatState): Message | undefined {
    let best: Message | undefined;
    for (const m of cs.messages.values()) if (!best || m.seq > best.seq) best = m;
    return best;
  }

  /** ✓✓ read once every other member read it, ✓✓ delivered once every other member got it (as WhatsApp). */
  tick(cs: ChatState, m: Message): Tick {
    const others = cs.chat.members.map((x) => x.userId).filter((u) => u !== this.me);
    if (others.length === 0) return 'sent';
    const read = (u: string) => (cs.readBy.get(u) ?? 0) >= m.seq;
    if (others.every(read)) return 'read';
    const delivered = (u: string) => read(u) || (cs.deliveredUpTo.get(u) ?? 0) >= m.seq || cs.deliveredTo.get(u)?.has(m.seq) === true;
    return others.every(delivered) ? 'delivered' : 'sent';
  }

  typingNames(cs: ChatState): string[] {
    return [...cs.typing.keys()].map((u) => this.name(u));
  }

  // ---- actions -------------------------------------------------------------------------------------

  openChat(chatId: string | undefined): void {
    this.openChatId = chatId;
    const cs = chatId ? this.chats.get(chatId) : undefined;
    if (cs && cs.messages.size < 20 && cs.hasMoreBefore && this.live?.conn) {
      const conn = this.live.conn;
      void (cs.messages.size === 0 ? this.loadLatest(conn, cs, 50) : this.loadOlder(cs.chat.chatId)).then(() => this.changed()).catch(() => undefined);
    }
    this.markRead();
    this.changed();
  }

  /** Tell the server (and our other devices) we read the open chat, if the page is visible. */
  markRead(): void {
    const cs = this.openChatId ? this.chats.get(this.openChatId) : undefined;
    if (!cs || document.visibilityState !== 'visible') return;
    const top = this.maxSeq(cs);
    if (top > cs.readUpTo) cs.readUpTo = top;
    this.saveReadMarkers();
    if (top <= cs.readSent || !this.live?.conn?.isOpen) return;
    cs.readSent = top;
    this.live.request('message.read', { chatId: cs.chat.chatId, seq: top }).catch(() => {
      cs.readSent = 0;
    });
    this.changed();
  }

  pendingFor(chatId: string): Pending[] {
    return this.outbox.filter((p) => p.chatId === chatId);
  }

  send(chatId: string, text: string, replyTo?: number, attachments?: string[]): void {
    const p: Pending = {
      clientMsgId: randomId(),
      chatId,
      text,
      createdAt: new Date().toISOString(),
      ...(replyTo !== undefined ? { replyTo } : {}),
      ...(attachments?.length ? { attachments } : {}),
    };
    this.outbox.push(p);
    this.saveOutbox();
    this.stopTyping(chatId);
    this.changed();
    this.flushOutbox();
  }

  /**
   * The outbox pump: sends every pending entry, in the order typed, without waiting for replies (up to
   * SEND_WINDOW in flight). protocol.md §8.2: one connection's sends get seqs in the order they arrived, so
   * pipelining keeps the typed order. Entries stay in the outbox (with their fixed clientMsgId) until the
   * server answers, so a reply lost to a dropped socket means an idempotent resend on the next connection.
   * Two rules keep the order across connections and refusals:
   * - nothing goes out on a new connection while sends of an older one are unanswered (a token renewal
   *   switches connections with sends in flight; the old ones settle, as replies or `closed`, first);
   * - after a retryable refusal (`unavailable`, `rate_limited`, …: nothing was stored) nothing new goes out
   *   until the retry, which resends from the oldest entry on. Sends already in flight then may land before
   *   the refused one; every device shows them in that (seq) order.
   */
  flushOutbox(): void {
    const conn = this.live?.conn;
    if (!conn?.isOpen || this.retryTimer) return;
    for (const c of this.inflight.values()) if (c !== conn) return;
    for (const p of this.outbox) {
      if (this.inflight.size >= SEND_WINDOW) return;
      if (p.failed || this.inflight.has(p.clientMsgId)) continue;
      this.inflight.set(p.clientMsgId, conn);
      this.maxInflight = Math.max(this.maxInflight, this.inflight.size);
      void this.sendPending(conn, p);
    }
  }

  /** One outbox entry on one connection; it leaves the outbox on a reply or a final refusal. */
  private async sendPending(conn: ParleyConnection, p: Pending): Promise<void> {
    try {
      const r = (await conn.request('message.send', {
        chatId: p.chatId,
        clientMsgId: p.clientMsgId,
        body: p.text ? { text: p.text } : {},
        ...(p.attachments ? { attachments: p.attachments } : {}),
        ...(p.replyTo !== undefined ? { replyTo: p.replyTo } : {}),
      })) as { messageId: string; seq: number; createdAt: string };
      this.inflight.delete(p.clientMsgId);
      const cs = this.chats.get(p.chatId);
      const me = this.session.current;
      if (cs && me) {
        this.onMessage(
          {
            chatId: p.chatId,
            seq: r.seq,
            messageId: r.messageId,
            kind: 'user',
            sender: { userId: me.userId, deviceId: me.deviceId },
            clientMsgId: p.clientMsgId,
            body: p.text ? { text: p.text } : {},
            attachments: [],
            ...(p.replyTo !== undefined ? { replyTo: p.replyTo } : {}),
            createdAt: r.createdAt,
          },
          false,
        );
        if (p.attachments?.length) void this.refetch(p.chatId, r.seq);
      }
      this.dropPending(p.clientMsgId);
    } catch (err) {
      this.inflight.delete(p.clientMsgId);
      if (err instanceof ParleyRequestError && ['closed', 'timeout', 'unavailable', 'rate_limited', 'internal'].includes(err.code)) {
        // `closed`: resent on the next connection (or the renewed one, at once). Otherwise wait, then resend.
        if (err.code !== 'closed' && !this.retryTimer) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = undefined;
            this.flushOutbox();
          }, err.retryAfterMs ?? 2000);
        }
      } else {
        p.failed = errorText(err);
        this.saveOutbox();
        this.changed();
      }
    }
    this.flushOutbox();
  }

  /** Re-read one message from history (the server's copy carries attachment metadata). */
  private async refetch(chatId: string, seq: number): Promise<void> {
    const cs = this.chats.get(chatId);
    const conn = this.live?.conn;
    if (!cs || !conn) return;
    const r = (await conn.request('message.history', { chatId, afterSeq: seq - 1, limit: 1 }).catch(() => undefined)) as
      | { messages: Message[] }
      | undefined;
    const m = r?.messages[0];
    if (m && m.seq === seq) {
      cs.messages.set(seq, m);
      this.changed();
    }
  }

  private dropPending(clientMsgId: string): void {
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((x) => x.clientMsgId !== clientMsgId);
    if (this.outbox.length !== before) {
      this.saveOutbox();
      this.changed();
    }
  }

  discardPending(clientMsgId: string): void {
    this.dropPending(clientMsgId);
  }

  /** Throttled typing state: at most one `typing` every 3 s while typing, `paused` after 4 s idle. */
  typed(chatId: string): void {
    const now = Date.now();
    if (now - this.typingSentAt > 3000) {
      this.typingSentAt = now;
      this.live?.request('typing', { chatId, state: 'typing' }).catch(() => undefined);
    }
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(chatId), 4000);
  }

  stopTyping(chatId: string): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = undefined;
    if (this.typingSentAt === 0) return;
    this.typingSentAt = 0;
    this.live?.request('typing', { chatId, state: 'paused' }).catch(() => undefined);
  }

  async request<T>(op: string, data: unknown): Promise<T> {
    if (!this.live) throw new ParleyRequestError({ code: 'closed', message: 'not connected' });
    return (await this.live.request(op, data)) as T;
  }

  async findUser(username: string): Promise<UserInfo> {
    const u = await this.session.http.findUser(username.trim().toLowerCase());
    this.users.set(u.userId, u);
    return u;
  }

  async startDirect(username: string): Promise<string> {
    const u = await this.findUser(username);
    if (u.userId === this.me) throw new Error('That is you.');
    const { chat } = await this.request<{ chat: Chat }>('chat.create', { type: 'direct', userId: u.userId });
    this.upsertChat(chat);
    return chat.chatId;
  }

  async createGroup(name: string, usernames: string[]): Promise<string> {
    const ids: string[] = [];
    for (const n of usernames) ids.push((await this.findUser(n)).userId);
    const { chat } = await this.request<{ chat: Chat }>('chat.create', { type: 'group', name, members: ids });
    this.upsertChat(chat);
    return chat.chatId;
  }

  async renameGroup(chatId: string, name: string): Promise<void> {
    const { chat } = await this.request<{ chat: Chat }>('chat.update', { chatId, name });
    this.upsertChat(chat);
  }

  async addMember(chatId: string, username: string): Promise<void> {
    const u = await this.findUser(username);
    const { chat } = await this.request<{ chat: Chat }>('chat.members.add', { chatId, userIds: [u.userId] });
    this.upsertChat(chat);
  }

  async removeMember(chatId: string, userId: string): Promise<void> {
    const { chat } = await this.request<{ chat: Chat }>('chat.members.remove', { chatId, userIds: [userId] });
    this.upsertChat(chat);
  }

  async setRole(chatId: string, userId: string, role: 'admin' | 'member'): Promise<void> {
    const { chat } = await this.request<{ chat: Chat }>('chat.members.role', { chatId, userId, role });
    this.upsertChat(chat);
  }

  async leave(chatId: string): Promise<void> {
    const me = this.me;
    if (!me) return;
    await this.request('chat.members.remove', { chatId, userIds: [me] });
    const cs = this.chats.get(chatId);
    if (cs) cs.left = true;
    this.changed();
  }

  async loadDevices(): Promise<void> {
    this.devices = (await this.session.http.listDevices()).devices;
    this.changed();
  }

  async removeDevice(deviceId: string): Promise<void> {
    if (deviceId === this.session.current?.deviceId) {
      await this.logOut();
      return;
    }
    await this.session.http.removeDevice(deviceId);
    await this.loadDevices();
  }

  // ---- media ---------------------------------------------------------------------------------------

  /** Upload a file straight to the presigned URL (with progress), then send it as a message. */
  async attach(chatId: string, file: File, caption: string): Promise<void> {
    const key = randomId();
    this.uploads.set(key, 0);
    this.changed();
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
      const sha256 = [...digest].map((x) => x.toString(16).padStart(2, '0')).join('');
      const up = await this.session.http.createUpload({
        contentType: file.type || 'application/octet-stream',
        size: file.size,
        sha256,
        fileName: file.name,
      });
      await new Promise<void>((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open(up.upload.method, up.upload.url);
        for (const [k, v] of Object.entries(up.upload.headers)) if (k.toLowerCase() !== 'content-length') xhr.setRequestHeader(k, v);
        xhr.upload.onprogress = (e) => {
          if (e.lengthComputable) {
            this.uploads.set(key, e.loaded / e.total);
            this.changed();
          }
        };
        xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new Error(`upload failed (HTTP ${xhr.status})`)));
        xhr.onerror = () => reject(new Error('upload failed'));
        xhr.send(bytes);
      });
      await this.session.http.completeUpload(up.mediaId);
      this.send(chatId, caption, undefined, [up.mediaId]);
    } catch (err) {
      if (isUnavailable(err)) this.mediaAvailable = false;
      throw err;
    } finally {
      this.uploads.delete(key);
      this.changed();
    }
  }

  /** An object URL for a media item (or its thumbnail), fetched with the access token. */
  async mediaUrl(mediaId: string, thumbnail: boolean): Promise<string | undefined> {
    const token = await this.session.accessToken();
    try {
      const res = await fetch(`${this.origin}/v1/media/${encodeURIComponent(mediaId)}${thumbnail ? '/thumbnail' : ''}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (!res.ok) return undefined;
      return URL.createObjectURL(await res.blob());
    } catch {
      return undefined;
    }
  }
}
