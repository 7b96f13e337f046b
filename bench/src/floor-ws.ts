// The WebSocket half of the floor at the issue's rate (floor-rate.ts): a child process, `<mode>-server` or
// `<mode>-client`.
//
// frames-server: fastify + @fastify/websocket, the gateway's stack, doing only what the protocol's frames force on a
//   gateway for one delivered and acked 1:1 message: parse the sender's `message.send` (JSON), answer it, send
//   the receiver `message.new`, parse the receiver's batched `message.ack`, send the sender one `receipt` per
//   acked chat. No auth, no gRPC, no stores: what is left is the frames themselves.
// frames-client: the load: `pairs` sender and receiver connections, sends at `rate` msg/s spread over the pairs (ticks
//   of `tickMs`), receivers ack what they hold every 100 ms (as the bench's receivers do).
// connect-server / connect-client: the connect path's floor: the upgrade with the ES256 access-token check the
//   gateway does before its 101 (jose, as services/gateway/src/api/auth/token-verifier.ts), nothing else; the
//   client opens `rate` connections a second and holds them.
// Servers report their port (and the connect server its signing key) to the parent over IPC; clients wait for
// that hello, then run one paced load per `start` and report its result.
import Fastify from 'fastify';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import websocket from '@fastify/websocket';
import WebSocket from 'ws';

type Start = { cmd: 'start'; rate: number; seconds: number; tickMs: number };
type Msg = Start | { cmd: 'stop' };

/** What one frames-client run reports. */
export interface FramesResult {
  sent: number;
  replies: number;
  delivered: number;
  receipts: number;
  wallMs: number;
}

/** What one connect-client run reports. */
export interface ConnectResult {
  started: number;
  opened: number;
  failed: number;
  wallMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Listens on a loopback port, tells the parent (with `hello`), and closes on its `stop`. */
async function serve(app: ReturnType<typeof Fastify>, hello: object = {}): Promise<void> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  process.send!({ port: typeof addr === 'object' && addr ? addr.port : 0, ...hello });
  process.on('message', (m: Msg) => {
    if (m.cmd === 'stop') void app.close().then(() => process.exit(0));
  });
}

/**
 * Every `start` from the parent: calls `issue(due)` every tickMs for its seconds (`due` = how many should have
 * gone out by now at its rate), then `finish(t0)`, whose result goes to the parent.
 */
function onStart<R>(issue: (due: number) => void, finish: (t0: number, m: Start) => Promise<R>, reset: () => void = () => {}): void {
  process.on('message', (m: Msg) => {
    if (m.cmd !== 'start') return;
    reset();
    const perTick = (m.rate * m.tickMs) / 1000;
    const t0 = performance.now();
    const tick = setInterval(() => {
      const elapsed = performance.now() - t0;
      if (elapsed < m.seconds * 1000) return issue((elapsed / m.tickMs) * perTick);
      clearInterval(tick);
      void finish(t0, m).then((r) => process.send!(r));
    }, m.tickMs);
  });
  process.send!({ ready: true });
}

async function framesServer(): Promise<void> {
  const app = Fastify({ logger: false });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  const peers = new Map<string, WebSocket>(); // "s<i>" / "r<i>" → socket
  let seq = 0;
  app.get('/ws', { websocket: true }, (socket, req) => {
    const id = new URL(req.url, 'http://x').searchParams.get('id') ?? '';
    peers.set(id, socket as unknown as WebSocket);
    socket.on('message', (data: Buffer) => {
      const f = JSON.parse(data.toString()) as { op: string; id: string; payload: { chatId?: string; body?: unknown; items?: Array<{ chatId: string; seq: number }> } };
      if (f.op === 'message.send') {
        const s = ++seq;
        socket.send(JSON.stringify({ id: f.id, ok: true, result: { seq: s, messageId: `m${s}`, createdAt: Date.now(), duplicate: false } }));
        const to = peers.get(`r${id.slice(1)}`);
        to?.send(JSON.stringify({ event: 'message.new', payload: { chatId: f.payload.chatId, seq: s, messageId: `m${s}`, sender: { userId: id, deviceId: 'd' }, createdAt: Date.now(), kind: 'user', body: f.payload.body } }));
      } else if (f.op === 'message.ack') {
        socket.send(JSON.stringify({ id: f.id, ok: true, result: {} }));
        const last = new Map<string, number>();
        for (const it of f.payload.items ?? []) last.set(it.chatId, Math.max(last.get(it.chatId) ?? 0, it.seq));
        const to = peers.get(`s${id.slice(1)}`);
        for (const [chatId, upTo] of last) to?.send(JSON.stringify({ event: 'receipt', payload: { chatId, userId: id, type: 'delivered', upToSeq: upTo, at: Date.now() } }));
      }
    });
    socket.on('close', () => peers.delete(id));
  });
  await serve(app);
}

async function framesClient(port: number, pairs: number): Promise<void> {
  const open = (id: string) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?id=${id}`);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  const senders = await Promise.all(Array.from({ length: pairs }, (_, i) => open(`s${i}`)));
  const receivers = await Promise.all(Array.from({ length: pairs }, (_, i) => open(`r${i}`)));
  let replies = 0;
  let delivered = 0;
  let receipts = 0;
  const pending: Array<Array<{ chatId: string; seq: number }>> = receivers.map(() => []);
  senders.forEach((ws) => ws.on('message', (d: Buffer) => {
    const f = JSON.parse(d.toString()) as { event?: string };
    if (f.event === 'receipt') receipts++;
    else replies++;
  }));
  receivers.forEach((ws, i) => ws.on('message', (d: Buffer) => {
    const f = JSON.parse(d.toString()) as { event?: string; payload?: { chatId: string; seq: number } };
    if (f.event === 'message.new' && f.payload) {
      delivered++;
      pending[i]!.push({ chatId: f.payload.chatId, seq: f.payload.seq });
    }
  }));
  let frameId = 0;
  // Receivers ack for as long as the process lives (the parent kills it after the last run).
  setInterval(() => {
    receivers.forEach((ws, i) => {
      const items = pending[i]!;
      if (!items.length) return;
      pending[i] = [];
      ws.send(JSON.stringify({ op: 'message.ack', id: `a${frameId++}`, payload: { items } }));
    });
  }, 100);
  const body = { type: 'text', text: 'x'.repeat(120) };
  let sent = 0;
  onStart<FramesResult>(
    (due) => {
      for (; sent < due; sent++) {
        const i = sent % pairs;
        senders[i]!.send(JSON.stringify({ op: 'message.send', id: `c${sent}`, payload: { chatId: `chat${i}`, clientMsgId: `cm${sent}`, body } }));
      }
    },
    async (t0) => {
      await sleep(600); // the last acks and receipts land
      return { sent, replies, delivered, receipts, wallMs: performance.now() - t0 };
    },
    () => (sent = replies = delivered = receipts = 0),
  );
}

async function connectServer(): Promise<void> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const key = await importJWK((await exportJWK(publicKey)) as JWK, 'ES256');
  // The load signs its tokens with the same key (sent once, as a JWK, over IPC).
  const signer = await exportJWK(privateKey);
  const app = Fastify({ logger: false });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  const conns = new Map<string, WebSocket>();
  let n = 0;
  app.get(
    '/ws',
    {
      websocket: true,
      preValidation: async (req, reply) => {
        const token = new URL(req.url, 'http://x').searchParams.get('token') ?? '';
        try {
          await jwtVerify(token, key, { algorithms: ['ES256'], issuer: 'parley', audience: 'parley' });
        } catch {
          await reply.code(401).send();
        }
      },
    },
    (socket) => {
      const id = `c${n++}`;
      conns.set(id, socket as unknown as WebSocket);
      socket.on('close', () => conns.delete(id));
    },
  );
  await serve(app, { signer });
}

async function connectClient(port: number, signer: JWK): Promise<void> {
  const key = await importJWK(signer, 'ES256');
  // 200 devices' tokens, signed up front (signing is the account service's work, not the connect's).
  const tokens = await Promise.all(
    Array.from({ length: 200 }, (_, i) => new SignJWT({ did: `d${i}` }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setSubject(`u${i}`).setIssuer('parley').setAudience('parley').setExpirationTime('1h').sign(key)),
  );
  const held: WebSocket[] = [];
  let started = 0;
  let opened = 0;
  let failed = 0;
  onStart<ConnectResult>(
    (due) => {
      for (; started < due; started++) {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${tokens[started % tokens.length]}`);
        ws.once('open', () => {
          opened++;
          held.push(ws);
        });
        ws.once('error', () => failed++);
      }
    },
    async (t0, m) => {
      // Until every upgrade offered has opened or failed (at most 10 s more).
      while (opened + failed < started && performance.now() - t0 < m.seconds * 1000 + 10_000) await sleep(5);
      return { started, opened, failed, wallMs: performance.now() - t0 };
    },
    () => (started = opened = failed = 0),
  );
}

// The parent's hello (the connect server's signing key, for the connect client) comes first.
const [mode, port, pairs] = process.argv.slice(2);
if (mode === 'frames-server') void framesServer();
else if (mode === 'connect-server') void connectServer();
else process.once('message', (m: { signer?: JWK }) => void (mode === 'connect-client' ? connectClient(Number(port), m.signer!) : framesClient(Number(port), Number(pairs ?? 100))));
