// One WebSocket interface over the two implementations the client runs on: the `ws` package in Node
// (upgrade headers, `unexpected-response` with the HTTP status, `autoPong`, `terminate`) and the
// standard WebSocket of browsers (no headers, so the token travels as `access_token`; no status on a
// refused upgrade). Which one is used is decided at run time: Node always uses `ws` (even where Node
// has a global WebSocket, because the tests need headers and `autoPong:false`); anything else uses
// `globalThis.WebSocket`. Bundlers map `ws` to its browser stub, which is never called.
import NodeWebSocket from 'ws';

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSED = 3;

export interface SocketHandlers {
  onText(text: string): void;
  onClose(code: number, reason: string): void;
  onError(message: string): void;
  /** The upgrade was answered with an HTTP status (Node only). */
  onRefused(status: number, body: string): void;
}

export interface RawSocket {
  /** The underlying object: a `ws` WebSocket in Node, the standard WebSocket in a browser. */
  readonly native: unknown;
  readonly kind: 'node' | 'browser';
  readyState(): number;
  send(data: string | Uint8Array, binary: boolean): void;
  close(code: number, reason: string): void;
  /** Drop without a close handshake (a browser can only close). */
  terminate(): void;
}

export interface OpenOptions {
  headers: Record<string, string>;
  /** Offered subprotocols (Sec-WebSocket-Protocol), e.g. the token-carrying one. */
  protocols?: string[];
  autoPong: boolean;
  maxPayload: number;
}

/** True when running under Node (where `ws` is used). */
export function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

interface BrowserWebSocket {
  readonly readyState: number;
  binaryType: string;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, cb: (ev: { data?: unknown; code?: number; reason?: string }) => void): void;
}
type BrowserWebSocketCtor = new (url: string, protocols?: string[]) => BrowserWebSocket;

export function openSocket(url: string, opts: OpenOptions, h: SocketHandlers): RawSocket {
  if (isNode()) return openNode(url, opts, h);
  const Ctor = (globalThis as { WebSocket?: BrowserWebSocketCtor }).WebSocket;
  if (!Ctor) throw new Error('no WebSocket implementation: neither Node (ws) nor a global WebSocket');
  return openBrowser(Ctor, url, h, opts.protocols ?? []);
}

function openNode(url: string, opts: OpenOptions, h: SocketHandlers): RawSocket {
  const ws = new NodeWebSocket(url, opts.protocols ?? [], {
    headers: opts.headers,
    autoPong: opts.autoPong,
    maxPayload: opts.maxPayload,
    perMessageDeflate: false,
  });
  ws.on('close', (code: number, reason: Buffer) => h.onClose(code, reason.toString('utf8')));
  ws.on('message', (raw: NodeWebSocket.RawData, isBinary: boolean) => {
    if (!isBinary) h.onText(raw.toString());
  });
  ws.on('error', (err) => h.onError(err.message));
  ws.on('unexpected-response', (_req, res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => h.onRefused(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
    res.on('error', () => h.onRefused(res.statusCode ?? 0, ''));
  });
  return {
    native: ws,
    kind: 'node',
    readyState: () => ws.readyState,
    send: (data, binary) => ws.send(data, { binary }),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
  };
}

function openBrowser(Ctor: BrowserWebSocketCtor, url: string, h: SocketHandlers, protocols: string[]): RawSocket {
  const ws = protocols.length > 0 ? new Ctor(url, protocols) : new Ctor(url);
  ws.binaryType = 'arraybuffer';
  let closed = false;
  const onClose = (code: number, reason: string): void => {
    if (closed) return;
    closed = true;
    h.onClose(code, reason);
  };
  ws.addEventListener('message', (ev) => {
    if (!closed && typeof ev.data === 'string') h.onText(ev.data);
  });
  ws.addEventListener('close', (ev) => onClose(ev.code ?? 1006, ev.reason ?? ''));
  ws.addEventListener('error', () => h.onError('WebSocket error'));
  return {
    native: ws,
    kind: 'browser',
    readyState: () => (closed ? CLOSED : ws.readyState),
    send: (data) => ws.send(data),
    close: (code, reason) => {
      // Browsers only allow 1000 and 3000–4999 from script.
      ws.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason);
    },
    // A browser cannot drop a socket without the closing handshake, which can hang on a dead network:
    // start it, and report the socket closed (1006) at once.
    terminate: () => {
      try {
        ws.close();
      } catch {
        /* already closing */
      }
      onClose(1006, 'terminated');
    },
  };
}
