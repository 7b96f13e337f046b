// Local stand-ins for the push providers, checking what the real ones check (issue 12 "Local stand-ins"):
//   FCM      (HTTPS)  the OAuth 2.0 JWT-bearer token endpoint (verifies the RS256 assertion of the service account
//                     it generated) and POST /v1/projects/{p}/messages:send (verifies the access token it issued
//                     and the HTTP v1 message schema).
//   APNs     (HTTP/2) POST /3/device/<token>: verifies the ES256 provider JWT (kid, iss = team, iat ≤ 1 h) and the
//                     apns-topic / apns-push-type / apns-priority / apns-collapse-id / apns-id headers.
//   Web Push (HTTPS)  POST /webpush/<id>: verifies the VAPID JWT (RFC 8292: aud = the endpoint's origin, exp ≤ 24 h,
//                     sub, k = the expected key) and decrypts the aes128gcm body with the subscription's private key.
//   Webhook  (HTTPS)  POST /webhook/<id>: verifies the HMAC-SHA256 signature over `<timestamp>.<body>`.
// Each can be told to answer 410 (dead token), 429 with Retry-After, or 500, per token or for every request.
// Everything they accepted is in `received`; every attempt (accepted or not) in `attempts`.
import { createHmac, generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createSecureServer, constants, type Http2SecureServer, type IncomingHttpHeaders as H2Headers } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { testTls } from './tls.js';
import { decryptAes128gcm, newSubscriptionKeys, newVapidKeys, type SubscriptionKeys } from './webpush-crypto.js';

export type FakeProvider = 'fcm' | 'apns' | 'webpush' | 'webhook';

export interface Received {
  provider: FakeProvider;
  /** FCM/APNs token, Web Push subscription id, webhook id. */
  key: string;
  /** The decoded notification (FCM message, APNs payload, decrypted Web Push JSON, webhook JSON). */
  payload: Record<string, unknown>;
  headers: Record<string, string>;
  at: number;
}

export interface Attempt {
  provider: FakeProvider;
  key: string;
  status: number;
  at: number;
  error?: string;
}

/** A scripted answer: status plus Retry-After seconds; `reason` for APNs / FCM error codes. */
export interface Scripted {
  status: number;
  retryAfterS?: number;
  reason?: string;
  /** Webhook: answer only after this long (a slow provider). */
  delayMs?: number;
}

export interface PushFakes {
  env: Record<string, string>;
  received: Received[];
  attempts: Attempt[];
  /** New Web Push subscription (JSON text of a PushSubscription) and its id. */
  webPushSubscription(): { id: string; token: string };
  /** New webhook URL and its id. */
  webhookUrl(): { id: string; token: string };
  fcmToken(): string;
  apnsToken(): string;
  /** Queue answers for one key (consumed in order, then back to normal). */
  script(provider: FakeProvider, key: string, answers: Scripted[]): void;
  /** Every request for this key answers the provider's "dead token" response from now on. */
  kill(provider: FakeProvider, key: string): void;
  /** Every request to the provider answers this until cleared (undefined). */
  scriptAll(provider: FakeProvider, answer: Scripted | undefined): void;
  /**
   * Revokes (true) or restores (false) our credentials at the provider: FCM's token endpoint answers 400
   * invalid_grant and every access token gets 401; APNs answers 403 InvalidProviderToken to every provider token.
   */
  revoke(provider: 'fcm' | 'apns', revoked: boolean): void;
  /** How many access tokens the FCM fake issued. */
  fcmTokensIssued(): number;
  of(provider: FakeProvider, key: string): Received[];
  reset(): void;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s), ...headers });
  res.end(s);
};

const readBody = (req: IncomingMessage, max = 1 << 20): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n <= max) chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

const flatHeaders = (h: IncomingMessage['headers'] | H2Headers): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(',') : String(v);
  return out;
};

class Reject extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
  }
}

const FCM_FIELDS = new Set(['name', 'data', 'notification', 'android', 'webpush', 'apns', 'fcm_options', 'token', 'topic', 'condition']);

function fcmError(status: number, code: string, errorCode?: string): unknown {
  return {
    error: {
      code: status,
      message: errorCode ?? code,
      status: code,
      ...(errorCode ? { details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] } : {}),
    },
  };
}

/** Checks an FCM HTTP v1 `messages:send` body the way the real API rejects bad ones (INVALID_ARGUMENT). */
export function checkFcmMessage(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return 'body must be a JSON object';
  const m = (body as { message?: unknown }).message;
  if (typeof m !== 'object' || m === null) return 'message is required';
  const msg = m as Record<string, unknown>;
  for (const k of Object.keys(msg)) if (!FCM_FIELDS.has(k)) return `Invalid JSON payload received. Unknown name "${k}" at 'message'`;
  const targets = ['token', 'topic', 'condition'].filter((k) => msg[k] !== undefined);
  if (targets.length !== 1) return 'exactly one of message.token, message.topic, message.condition is required';
  if (typeof msg.token !== 'string' || msg.token.length === 0) return 'message.token must be a non-empty string';
  if (msg.data !== undefined) {
    if (typeof msg.data !== 'object' || msg.data === null) return 'message.data must be a map';
    for (const [k, v] of Object.entries(msg.data)) if (typeof v !== 'string') return `message.data.${k} must be a string`;
  }
  if (msg.notification !== undefined) {
    const n = msg.notification as Record<string, unknown>;
    for (const k of Object.keys(n)) if (!['title', 'body', 'image'].includes(k)) return `Unknown name "${k}" at 'message.notification'`;
    if (n.title !== undefined && typeof n.title !== 'string') return 'message.notification.title must be a string';
    if (n.body !== undefined && typeof n.body !== 'string') return 'message.notification.body must be a string';
  }
  if (msg.android !== undefined) {
    const a = msg.android as Record<string, unknown>;
    if (a.priority !== undefined && !['normal', 'high', 'NORMAL', 'HIGH'].includes(a.priority as string)) return 'message.android.priority is invalid';
    if (a.collapse_key !== undefined && typeof a.collapse_key !== 'string') return 'message.android.collapse_key must be a string';
    const an = a.notification as Record<string, unknown> | undefined;
    if (an?.notification_count !== undefined && !Number.isInteger(an.notification_count)) return 'message.android.notification.notification_count must be an integer';
  }
  if (msg.apns !== undefined) {
    const h = (msg.apns as { headers?: Record<string, unknown> }).headers ?? {};
    for (const [k, v] of Object.entries(h)) if (typeof v !== 'string') return `message.apns.headers.${k} must be a string`;
  }
  return undefined;
}

export async function startPushFakes(opts: { httpsPort?: number; apnsPort?: number; host?: string } = {}): Promise<PushFakes> {
  const host = opts.host ?? '127.0.0.1';
  const tls = testTls();
  const received: Received[] = [];
  const attempts: Attempt[] = [];
  const scripts = new Map<string, Scripted[]>();
  const dead = new Set<string>();
  const all = new Map<FakeProvider, Scripted>();
  const revoked = new Set<'fcm' | 'apns'>();
  const sk = (p: FakeProvider, k: string) => `${p}\0${k}`;

  /** A scripted or "dead" answer for this request, if any. */
  const scripted = (p: FakeProvider, key: string): Scripted | undefined => {
    if (dead.has(sk(p, key))) return { status: p === 'fcm' ? 404 : 410, reason: p === 'fcm' ? 'UNREGISTERED' : 'Unregistered' };
    const q = scripts.get(sk(p, key));
    if (q && q.length > 0) return q.shift();
    return all.get(p);
  };

  // FCM: a service account whose key only this fake knows the public half of.
  const fcmKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const fcmProject = 'parley-test';
  const fcmClientEmail = `push@${fcmProject}.iam.gserviceaccount.com`;
  const fcmAccessTokens = new Map<string, number>(); // token → expiresAt
  let fcmIssued = 0;

  // APNs: a .p8 key.
  const apnsKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const apnsKeyId = 'PARLEYKEY1';
  const apnsTeamId = 'PARLEYTEAM';
  const apnsTopic = 'org.parley.test';

  // Web Push.
  const vapid = newVapidKeys();
  const subscriptions = new Map<string, SubscriptionKeys>();
  const webhookSecret = randomBytes(32).toString('hex');
  const webhooks = new Set<string>();

  let httpsBase = '';
  const tokenUri = () => `${httpsBase}/fcm/token`;

  const handleFcmToken = async (req: IncomingMessage, res: ServerResponse) => {
    const form = new URLSearchParams((await readBody(req)).toString('utf8'));
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return json(res, 400, { error: 'unsupported_grant_type' });
    const assertion = form.get('assertion') ?? '';
    if (revoked.has('fcm')) {
      attempts.push({ provider: 'fcm', key: 'oauth', status: 400, at: Date.now(), error: 'invalid_grant' });
      return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    }
    try {
      const hdr = decodeProtectedHeader(assertion);
      if (hdr.alg !== 'RS256') throw new Error('alg must be RS256');
      const { payload } = await jwtVerify(assertion, fcmKeys.publicKey, { issuer: fcmClientEmail, audience: tokenUri(), algorithms: ['RS256'] });
      if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number' || payload.exp - payload.iat > 3600) throw new Error('exp - iat must be ≤ 3600');
      if (typeof payload.scope !== 'string' || !payload.scope.split(' ').includes('https://www.googleapis.com/auth/firebase.messaging'))
        throw new Error('scope must include firebase.messaging');
    } catch (err) {
      return json(res, 400, { error: 'invalid_grant', error_description: (err as Error).message });
    }
    const token = `ya29.fake-${randomBytes(24).toString('base64url')}`;
    fcmAccessTokens.set(token, Date.now() + 3600_000);
    fcmIssued += 1;
    json(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
  };

  const handleFcmSend = async (req: IncomingMessage, res: ServerResponse, project: string) => {
    const raw = await readBody(req);
    const auth = req.headers.authorization ?? '';
    const bearer = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const exp = fcmAccessTokens.get(bearer);
    let key = '';
    try {
      if (!exp || exp < Date.now() || revoked.has('fcm')) throw new Reject(401, fcmError(401, 'UNAUTHENTICATED'));
      if (project !== fcmProject) throw new Reject(403, fcmError(403, 'PERMISSION_DENIED'));
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new Reject(400, fcmError(400, 'INVALID_ARGUMENT'));
      }
      const why = checkFcmMessage(body);
      if (why) throw new Reject(400, { error: { code: 400, message: why, status: 'INVALID_ARGUMENT' } });
      for (const k of Object.keys(body as object))
        if (k !== 'message' && k !== 'validate_only') throw new Reject(400, { error: { code: 400, message: `Unknown name "${k}"`, status: 'INVALID_ARGUMENT' } });
      const msg = (body as { message: Record<string, unknown> }).message;
      key = msg.token as string;
      const s = scripted('fcm', key);
      if (s && s.status !== 200) {
        const code = s.status === 404 ? 'NOT_FOUND' : s.status === 429 ? 'RESOURCE_EXHAUSTED' : s.status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
        const errorCode = s.reason ?? (s.status === 404 ? 'UNREGISTERED' : s.status === 429 ? 'QUOTA_EXCEEDED' : s.status >= 500 ? 'INTERNAL' : undefined);
        throw new Reject(s.status, fcmError(s.status, code, errorCode), s.retryAfterS !== undefined ? { 'retry-after': String(s.retryAfterS) } : {});
      }
      if ((body as { validate_only?: unknown }).validate_only === true) {
        // Checked, authorized, not delivered (FCM answers a fixed fake message name).
        attempts.push({ provider: 'fcm', key, status: 200, at: Date.now(), error: 'validate_only' });
        return json(res, 200, { name: `projects/${fcmProject}/messages/fake_message_id` });
      }
      received.push({ provider: 'fcm', key, payload: msg, headers: flatHeaders(req.headers), at: Date.now() });
      attempts.push({ provider: 'fcm', key, status: 200, at: Date.now() });
      json(res, 200, { name: `projects/${fcmProject}/messages/${randomUUID()}` });
    } catch (err) {
      if (!(err instanceof Reject)) throw err;
      attempts.push({ provider: 'fcm', key, status: err.status, at: Date.now(), error: err.message });
      json(res, err.status, err.body, err.headers);
    }
  };

  const handleWebPush = async (req: IncomingMessage, res: ServerResponse, id: string) => {
    const body = await readBody(req, 8192);
    try {
      const keys = subscriptions.get(id);
      if (!keys) throw new Reject(404, 'no such subscription');
      const s = scripted('webpush', id);
      if (s && s.status !== 201) throw new Reject(s.status, 'scripted', s.retryAfterS !== undefined ? { 'retry-after': String(s.retryAfterS) } : {});
      if (req.headers.ttl === undefined || !/^\d+$/.test(String(req.headers.ttl))) throw new Reject(400, 'TTL header required');
      if (req.headers['content-encoding'] !== 'aes128gcm') throw new Reject(415, 'Content-Encoding must be aes128gcm');
      const topic = req.headers.topic;
      if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(String(topic))) throw new Reject(400, 'Topic must be ≤ 32 base64url characters');
      const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(req.headers.authorization ?? '');
      if (!m) throw new Reject(401, 'Authorization must be "vapid t=…, k=…"');
      if (m[2] !== vapid.publicKey) throw new Reject(403, 'k is not the key this subscription was made with');
      const pub = Buffer.from(m[2]!, 'base64url');
      const jwk = { kty: 'EC', crv: 'P-256', x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33, 65).toString('base64url') };
      try {
        const { payload } = await jwtVerify(m[1]!, await importJWK(jwk, 'ES256'), { audience: new URL(httpsBase).origin, algorithms: ['ES256'] });
        if (typeof payload.exp !== 'number' || payload.exp > Date.now() / 1000 + 86_400) throw new Error('exp must be within 24 hours');
        if (typeof payload.sub !== 'string' || !/^(mailto:|https:)/.test(payload.sub)) throw new Error('sub must be a mailto: or https: URI');
      } catch (err) {
        throw new Reject(401, `VAPID JWT refused: ${(err as Error).message}`);
      }
      let plain: Buffer;
      try {
        plain = decryptAes128gcm(body, keys);
      } catch (err) {
        throw new Reject(400, `decryption failed: ${(err as Error).message}`);
      }
      received.push({ provider: 'webpush', key: id, payload: JSON.parse(plain.toString('utf8')) as Record<string, unknown>, headers: flatHeaders(req.headers), at: Date.now() });
      attempts.push({ provider: 'webpush', key: id, status: 201, at: Date.now() });
      res.writeHead(201, { location: `${httpsBase}/webpush/msg/${randomUUID()}`, 'content-length': 0 });
      res.end();
    } catch (err) {
      if (!(err instanceof Reject)) throw err;
      attempts.push({ provider: 'webpush', key: id, status: err.status, at: Date.now(), error: err.message });
      res.writeHead(err.status, { 'content-type': 'text/plain', ...err.headers });
      res.end(err.message);
    }
  };

  const handleWebhook = async (req: IncomingMessage, res: ServerResponse, id: string) => {
    const body = await readBody(req, 65536);
    try {
      if (!webhooks.has(id)) throw new Reject(404, 'no such hook');
      const s = scripted('webhook', id);
      if (s?.delayMs) await new Promise((r) => setTimeout(r, s.delayMs));
      if (s && s.status !== 200) throw new Reject(s.status, 'scripted', s.retryAfterS !== undefined ? { 'retry-after': String(s.retryAfterS) } : {});
      const ts = String(req.headers['x-parley-timestamp'] ?? '');
      if (!/^\d+$/.test(ts) || Math.abs(Number(ts) - Date.now() / 1000) > 300) throw new Reject(401, 'timestamp missing or more than 5 minutes off');
      const want = Buffer.from(`v1=${createHmac('sha256', webhookSecret).update(`${ts}.`).update(body).digest('hex')}`);
      const got = Buffer.from(String(req.headers['x-parley-signature'] ?? ''));
      if (got.length !== want.length || !timingSafeEqual(got, want)) throw new Reject(401, 'bad signature');
      received.push({ provider: 'webhook', key: id, payload: JSON.parse(body.toString('utf8')) as Record<string, unknown>, headers: flatHeaders(req.headers), at: Date.now() });
      attempts.push({ provider: 'webhook', key: id, status: 200, at: Date.now() });
      json(res, 200, { ok: true });
    } catch (err) {
      if (!(err instanceof Reject)) throw err;
      attempts.push({ provider: 'webhook', key: id, status: err.status, at: Date.now(), error: err.message });
      json(res, err.status, { error: err.message }, err.headers);
    }
  };

  const https: Server = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://x');
    const p = url.pathname;
    const fail = (err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: (err as Error).message });
    };
    if (req.method !== 'POST') return json(res, 405, { error: 'POST only' });
    let m: RegExpExecArray | null;
    if (p === '/fcm/token') return void handleFcmToken(req, res).catch(fail);
    if ((m = /^\/fcm\/v1\/projects\/([^/]+)\/messages:send$/.exec(p))) return void handleFcmSend(req, res, decodeURIComponent(m[1]!)).catch(fail);
    if ((m = /^\/webpush\/([A-Za-z0-9_-]+)$/.exec(p))) return void handleWebPush(req, res, m[1]!).catch(fail);
    if ((m = /^\/webhook\/([A-Za-z0-9_-]+)$/.exec(p))) return void handleWebhook(req, res, m[1]!).catch(fail);
    json(res, 404, { error: 'not found' });
  });
  https.keepAliveTimeout = 30_000;

  const apnsPub = apnsKeys.publicKey;
  const apns: Http2SecureServer = createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: false });
  const apnsSessions = new Set<import('node:http2').ServerHttp2Session>();
  apns.on('session', (s) => {
    apnsSessions.add(s);
    s.on('close', () => apnsSessions.delete(s));
  });
  apns.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      void (async () => {
        const path = String(headers[constants.HTTP2_HEADER_PATH] ?? '');
        const token = /^\/3\/device\/([^/?]+)$/.exec(path)?.[1] ?? '';
        const apnsId = String(headers['apns-id'] ?? randomUUID());
        const answer = (status: number, reason?: string, extra: Record<string, string> = {}) => {
          attempts.push({ provider: 'apns', key: token, status, at: Date.now(), ...(reason ? { error: reason } : {}) });
          const body = reason ? JSON.stringify(status === 410 ? { reason, timestamp: Date.now() } : { reason }) : '';
          stream.respond({ ':status': status, 'apns-id': apnsId, ...(body ? { 'content-type': 'application/json' } : {}), ...extra });
          stream.end(body);
        };
        if (headers[constants.HTTP2_HEADER_METHOD] !== 'POST') return answer(405, 'MethodNotAllowed');
        if (!token) return answer(404, 'BadPath');
        const auth = String(headers.authorization ?? '');
        if (!auth.startsWith('bearer ')) return answer(403, 'MissingProviderToken');
        const jwt = auth.slice(7);
        if (revoked.has('apns')) return answer(403, 'InvalidProviderToken');
        try {
          const h = decodeProtectedHeader(jwt);
          if (h.alg !== 'ES256' || h.kid !== apnsKeyId) return answer(403, 'InvalidProviderToken');
          const { payload } = await jwtVerify(jwt, apnsPub, { issuer: apnsTeamId, algorithms: ['ES256'] });
          if (typeof payload.iat !== 'number') return answer(403, 'InvalidProviderToken');
          if (payload.iat < Date.now() / 1000 - 3600) return answer(403, 'ExpiredProviderToken');
          if (payload.iat > Date.now() / 1000 + 60) return answer(403, 'InvalidProviderToken');
        } catch {
          return answer(403, 'InvalidProviderToken');
        }
        const topic = headers['apns-topic'];
        if (!topic) return answer(400, 'MissingTopic');
        if (topic !== apnsTopic) return answer(400, 'DeviceTokenNotForTopic');
        const pushType = String(headers['apns-push-type'] ?? '');
        if (!['alert', 'background', 'voip', 'complication', 'fileprovider', 'mdm', 'liveactivity', 'location', 'pushtotalk'].includes(pushType))
          return answer(400, 'InvalidPushType');
        const prio = String(headers['apns-priority'] ?? '10');
        if (!['10', '5', '1'].includes(prio) || (pushType === 'background' && prio !== '5')) return answer(400, 'BadPriority');
        const collapse = headers['apns-collapse-id'];
        if (collapse !== undefined && Buffer.byteLength(String(collapse)) > 64) return answer(400, 'BadCollapseId');
        if (headers['apns-id'] !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(String(headers['apns-id'])))
          return answer(400, 'BadMessageId');
        if (!/^[0-9a-f]{64,200}$/i.test(token)) return answer(400, 'BadDeviceToken');
        const raw = Buffer.concat(chunks);
        if (raw.length > 4096) return answer(413, 'PayloadTooLarge');
        let payload: Record<string, unknown>;
        try {
          payload = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
        } catch {
          return answer(400, 'BadPayload');
        }
        const aps = payload.aps as Record<string, unknown> | undefined;
        if (!aps || typeof aps !== 'object') return answer(400, 'PayloadEmpty');
        if (pushType === 'alert' && aps.alert === undefined) return answer(400, 'PayloadEmpty');
        const s = scripted('apns', token);
        if (s && s.status !== 200) {
          const reason = s.reason ?? (s.status === 410 ? 'Unregistered' : s.status === 429 ? 'TooManyRequests' : s.status >= 500 ? 'InternalServerError' : 'BadRequest');
          return answer(s.status, reason, s.retryAfterS !== undefined ? { 'retry-after': String(s.retryAfterS) } : {});
        }
        received.push({ provider: 'apns', key: token, payload, headers: flatHeaders(headers), at: Date.now() });
        answer(200);
      })().catch(() => {
        if (!stream.headersSent) stream.respond({ ':status': 500 });
        stream.end();
      });
    });
  });

  const listen = (srv: Server | Http2SecureServer, port: number) =>
    new Promise<number>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, () => resolve((srv.address() as AddressInfo).port));
    });
  const httpsPort = await listen(https, opts.httpsPort ?? 0);
  const apnsPort = await listen(apns, opts.apnsPort ?? 0);
  httpsBase = `https://${host}:${httpsPort}`;

  const serviceAccount = {
    type: 'service_account',
    project_id: fcmProject,
    private_key_id: 'parley-fake-key-1',
    private_key: fcmKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: fcmClientEmail,
    client_id: '1',
    auth_uri: `${httpsBase}/fcm/auth`,
    token_uri: tokenUri(),
  };

  const env: Record<string, string> = {
    PUSH_FCM_SERVICE_ACCOUNT: JSON.stringify(serviceAccount),
    PUSH_FCM_BASE_URL: `${httpsBase}/fcm`,
    PUSH_APNS_KEY: apnsKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    PUSH_APNS_KEY_ID: apnsKeyId,
    PUSH_APNS_TEAM_ID: apnsTeamId,
    PUSH_APNS_TOPIC: apnsTopic,
    PUSH_APNS_BASE_URL: `https://${host}:${apnsPort}`,
    PUSH_VAPID_PUBLIC_KEY: vapid.publicKey,
    PUSH_VAPID_PRIVATE_KEY: vapid.privateKey,
    PUSH_VAPID_SUBJECT: 'mailto:dev@parley.test',
    PUSH_WEBHOOK_SECRET: webhookSecret,
    // The local stack allow-lists loopback for its fakes (production: empty).
    PUSH_OUTBOUND_ALLOW: '127.0.0.0/8,::1/128',
    NODE_EXTRA_CA_CERTS: tls.caFile,
  };

  return {
    env,
    received,
    attempts,
    webPushSubscription() {
      const id = randomBytes(12).toString('base64url');
      const keys = newSubscriptionKeys();
      subscriptions.set(id, keys);
      return {
        id,
        token: JSON.stringify({ endpoint: `${httpsBase}/webpush/${id}`, expirationTime: null, keys: { p256dh: keys.publicKey.toString('base64url'), auth: keys.auth.toString('base64url') } }),
      };
    },
    webhookUrl() {
      const id = randomBytes(12).toString('base64url');
      webhooks.add(id);
      return { id, token: `${httpsBase}/webhook/${id}` };
    },
    fcmToken: () => `fcm_${randomBytes(8).toString('hex')}:APA91b${randomBytes(48).toString('base64url')}`,
    apnsToken: () => randomBytes(32).toString('hex'),
    script(provider, key, answers) {
      scripts.set(sk(provider, key), [...(scripts.get(sk(provider, key)) ?? []), ...answers]);
    },
    kill(provider, key) {
      dead.add(sk(provider, key));
    },
    revoke(provider, on) {
      if (on) revoked.add(provider);
      else revoked.delete(provider);
    },
    scriptAll(provider, answer) {
      if (answer) all.set(provider, answer);
      else all.delete(provider);
    },
    fcmTokensIssued: () => fcmIssued,
    of: (provider, key) => received.filter((r) => r.provider === provider && r.key === key),
    reset() {
      received.length = 0;
      attempts.length = 0;
      scripts.clear();
      all.clear();
      revoked.clear();
    },
    async close() {
      await Promise.all([
        new Promise<void>((r) => {
          https.closeAllConnections();
          https.close(() => r());
        }),
        new Promise<void>((r) => {
          for (const s of apnsSessions) s.destroy();
          apns.close(() => r());
        }),
      ]);
    },
  };
}
