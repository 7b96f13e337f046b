import type WebSocket from 'ws';
import { CONNECTING, OPEN, isNode, openSocket, type RawSocket } from './socket.js';
import { ParleyConnectError, ParleyRequestError } from './errors.js';
import type { ErrorBody, EventName, Events, Op, ReplyData, RequestData, ServerEvent } from './types.js';

export interface ConnectOptions {
  /**
   * How the access token travels on the upgrade: `Authorization: Bearer` (default in Node),
   * `Sec-WebSocket-Protocol: parley.v1, parley.bearer.<token>` (works in browsers too), or the
   * `access_token` query parameter (default in a browser).
   */
  tokenIn?: 'header' | 'subprotocol' | 'query';
  /** Milliseconds to wait for `session.ready` (default 10 000). */
  timeoutMs?: number;
  /** Default timeout of `request` (default 10 000 ms). */
  requestTimeoutMs?: number;
  /** Answer server pings automatically (default true). `false` simulates a silent network loss (Node only). */
  autoPong?: boolean;
  /** Keep every received event in `conn.events` (default true). The bench turns it off. */
  recordEvents?: boolean;
  /** Largest frame the client accepts (default 16 MiB). */
  maxPayload?: number;
  /** Extra upgrade request headers (Node only). */
  headers?: Record<string, string>;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

interface Pending {
  resolve: (data: unknown) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

type Listener = (data: unknown, frame: ServerEvent) => void;

/** Any decoded server frame (reply or event), as received. */
export type ServerFrame = Record<string, unknown>;

/**
 * One authenticated WebSocket (protocol.md §1, §3–§5). Create it with `connect`, which
 * resolves after `session.ready`. Replies are correlated by id; ids are "1", "2", … per connection.
 */
export class ParleyConnection {
  /** The socket: a `ws` WebSocket in Node; the standard WebSocket in a browser (typed as `ws` for the Node tests). */
  readonly ws: WebSocket;
  /** Which implementation carries this connection. */
  readonly runtime: 'node' | 'browser';
  /** The `session.ready` data. */
  ready!: Events['session.ready'];
  /** Every event received, oldest first (unless recordEvents was false). */
  readonly events: ServerEvent[] = [];
  /** Error replies with `"id":null` (errors for requests sent without id, or unparseable frames). */
  readonly errors: ErrorBody[] = [];
  /** Resolves when the socket closes, with the close code and reason. */
  readonly closed: Promise<CloseInfo>;
  /** The first decoded frame the server sent (protocol: always `session.ready`). */
  firstFrame: ServerFrame | undefined;

  private nextId = 0;
  private readonly pending = new Map<string, Pending>();
  private listeners: Map<string, Set<Listener>> | undefined;
  private readonly recordEvents: boolean;
  private readonly requestTimeoutMs: number;
  private closeInfo: CloseInfo | undefined;

  private readonly sock: RawSocket;
  /** @internal set by `connect` to learn about a failed open. */
  onOpenFailure: ((err: ParleyConnectError) => void) | undefined;

  /** @internal use `connect`. */
  constructor(url: string, opts: ConnectOptions, headers: Record<string, string> = {}, protocols: string[] = []) {
    this.recordEvents = opts.recordEvents ?? true;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    let resolveClosed!: (c: CloseInfo) => void;
    this.closed = new Promise<CloseInfo>((resolve) => (resolveClosed = resolve));
    this.sock = openSocket(
      url,
      { headers, protocols, autoPong: opts.autoPong ?? true, maxPayload: opts.maxPayload ?? 16 * 1024 * 1024 },
      {
        onText: (text) => this.onFrame(text),
        onClose: (code, reason) => {
          this.closeInfo = { code, reason };
          for (const [, p] of this.pending) {
            clearTimeout(p.timer);
            p.reject(new ParleyRequestError({ code: 'closed', message: `connection closed (${code})` }));
          }
          this.pending.clear();
          resolveClosed(this.closeInfo);
        },
        onError: (message) => this.onOpenFailure?.(new ParleyConnectError(message)),
        onRefused: (status, body) =>
          this.onOpenFailure?.(new ParleyConnectError(`upgrade refused: HTTP ${status}`, { status, ...(body ? { body } : {}) })),
      },
    );
    this.ws = this.sock.native as WebSocket;
    this.runtime = this.sock.kind;
  }

  get isOpen(): boolean {
    return this.sock.readyState() === OPEN;
  }

  get closeStatus(): CloseInfo | undefined {
    return this.closeInfo;
  }

  /** Send a request and wait for its reply data; rejects with ParleyRequestError on `ok:false`. */
  request<K extends Op>(op: K, data: RequestData<K>, opts?: { timeoutMs?: number }): Promise<ReplyData<K>>;
  request(op: string, data?: unknown, opts?: { timeoutMs?: number }): Promise<unknown>;
  request(op: string, data: unknown = {}, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    if (this.sock.readyState() !== OPEN) {
      return Promise.reject(new ParleyRequestError({ code: 'closed', message: 'connection is not open' }));
    }
    const id = String(++this.nextId);
    return new Promise((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ParleyRequestError({ code: 'timeout', message: `no reply to ${op} #${id} in ${timeoutMs} ms` }, id));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.sock.send(JSON.stringify({ id, op, data }), false);
    });
  }

  /** Send a request without id: no reply on success (errors arrive in `errors` with id null). */
  send<K extends Op>(op: K, data: RequestData<K>): void;
  send(op: string, data?: unknown): void;
  send(op: string, data: unknown = {}): void {
    this.sock.send(JSON.stringify({ op, data }), false);
  }

  /** Send any text (or binary) frame as is: for tests of malformed input. */
  sendRaw(frame: string | Uint8Array, opts: { binary?: boolean } = {}): void {
    this.sock.send(frame, opts.binary ?? typeof frame !== 'string');
  }

  /** Subscribe to an event ('*' for all, '$error' for id-less error replies); returns the unsubscribe function. */
  on<E extends EventName>(event: E, cb: (data: Events[E], frame: ServerEvent) => void): () => void;
  on(event: string, cb: Listener): () => void;
  on(event: string, cb: Listener): () => void {
    this.listeners ??= new Map();
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(cb);
    return () => {
      set.delete(cb);
    };
  }

  /**
   * Resolve with the data of the first event named `event` that matches `predicate`. Events already
   * received (in `events`) are looked at first unless `includePast` is false.
   */
  waitForEvent<E extends EventName>(
    event: E,
    predicate?: (data: Events[E]) => boolean,
    timeoutMs?: number,
    includePast?: boolean,
  ): Promise<Events[E]>;
  waitForEvent(event: string, predicate?: (data: any) => boolean, timeoutMs?: number, includePast?: boolean): Promise<any>;
  waitForEvent(
    event: string,
    predicate: (data: any) => boolean = () => true,
    timeoutMs = 10_000,
    includePast = true,
  ): Promise<unknown> {
    if (includePast) {
      const found = this.events.find((e) => e.event === event && predicate(e.data));
      if (found) return Promise.resolve(found.data);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for event ${event}`));
      }, timeoutMs);
      const off = this.on(event, (data) => {
        if (!predicate(data)) return;
        clearTimeout(timer);
        off();
        resolve(data);
      });
    });
  }

  /** Resolve with the next `"id":null` error reply (or one already received when includePast). */
  waitForError(predicate: (e: ErrorBody) => boolean = () => true, timeoutMs = 10_000, includePast = false): Promise<ErrorBody> {
    if (includePast) {
      const found = this.errors.find(predicate);
      if (found) return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for an error reply`));
      }, timeoutMs);
      const off = this.on('$error', (data) => {
        if (!predicate(data as ErrorBody)) return;
        clearTimeout(timer);
        off();
        resolve(data as ErrorBody);
      });
    });
  }

  /** Close (default 1000) and wait until the socket is closed. */
  async close(code = 1000, reason = ''): Promise<CloseInfo> {
    const state = this.sock.readyState();
    if (state === CONNECTING || state === OPEN) {
      this.sock.close(code, reason);
    }
    return this.closed;
  }

  /** Drop the TCP connection without a close handshake. */
  terminate(): void {
    this.sock.terminate();
  }

  private emit(name: string, data: unknown, frame: ServerEvent): void {
    const set = this.listeners?.get(name);
    if (set) for (const cb of [...set]) cb(data, frame);
  }

  private onFrame(text: string): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    if (frame === null || typeof frame !== 'object') return;
    this.firstFrame ??= frame;
    if (typeof frame['event'] === 'string') {
      const ev = frame as unknown as ServerEvent;
      if (this.recordEvents) this.events.push(ev);
      this.emit(ev.event, ev.data, ev);
      this.emit('*', ev.data, ev);
      return;
    }
    if ('ok' in frame) {
      const id = frame['id'];
      if (typeof id === 'string' && this.pending.has(id)) {
        const p = this.pending.get(id)!;
        this.pending.delete(id);
        clearTimeout(p.timer);
        if (frame['ok'] === true) p.resolve(frame['data'] ?? {});
        else p.reject(new ParleyRequestError(frame['error'] as ErrorBody, id));
        return;
      }
      if (frame['ok'] === false) {
        const body = frame['error'] as ErrorBody;
        if (this.recordEvents) this.errors.push(body);
        this.emit('$error', body, { event: '$error', data: body });
      }
    }
  }
}

/** Open a WebSocket to the gateway and resolve once `session.ready` arrived (Node with `ws`, or a browser). */
export function connect(wsUrl: string, accessToken: string, opts: ConnectOptions = {}): Promise<ParleyConnection> {
  const headers: Record<string, string> = { ...opts.headers };
  let url = wsUrl;
  const tokenIn = opts.tokenIn ?? (isNode() ? 'header' : 'query');
  const protocols: string[] = [];
  if (tokenIn === 'header') headers['authorization'] = `Bearer ${accessToken}`;
  else if (tokenIn === 'subprotocol') protocols.push('parley.v1', `parley.bearer.${accessToken}`);
  else url += (url.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(accessToken);

  let conn: ParleyConnection;
  try {
    conn = new ParleyConnection(url, opts, headers, protocols);
  } catch (err) {
    return Promise.reject(new ParleyConnectError(err instanceof Error ? err.message : String(err)));
  }
  const c = conn;

  return new Promise<ParleyConnection>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (c.closeStatus === undefined) c.terminate();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new ParleyConnectError(`no session.ready within ${opts.timeoutMs ?? 10_000} ms`)),
      opts.timeoutMs ?? 10_000,
    );
    c.onOpenFailure = fail;
    void c.closed.then((cl) => fail(new ParleyConnectError(`closed before session.ready (${cl.code})`, { closeCode: cl.code })));
    const off = c.on('session.ready', (data) => {
      off();
      if (settled) return;
      if (c.firstFrame?.['event'] !== 'session.ready') {
        fail(new ParleyConnectError('the first frame was not session.ready'));
        return;
      }
      settled = true;
      clearTimeout(timer);
      c.onOpenFailure = undefined;
      c.ready = data;
      resolve(c);
    });
  });
}

/** Reconnect delay for attempt n (0-based): exponential from 250 ms, capped at 30 s, with full jitter. */
export function reconnectDelayMs(attempt: number, baseMs = 250, capMs = 30_000): number {
  return Math.floor(Math.random() * Math.min(capMs, baseMs * 2 ** attempt));
}
