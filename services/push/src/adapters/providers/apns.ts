// APNs over HTTP/2 with token-based auth: an ES256 JWT ({alg: ES256, kid: key id}, {iss: team id, iat}) from the
// .p8 key, reused for 50 minutes (Apple refuses tokens older than an hour and too-frequent renewals).
// POST /3/device/<token> with apns-topic, apns-push-type: alert, apns-priority: 10, apns-collapse-id (one alert
// per chat), apns-id (the notification id: a retry carries the same one) and apns-expiration.
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { importPKCS8, SignJWT, type KeyLike } from 'jose';
import type { Notification, ProbeOutcome, Provider, Registration, SendOutcome } from '../../domain/types.js';
import { parseRetryAfter } from './http-client.js';

export interface ApnsSettings {
  key: string;
  keyId: string;
  teamId: string;
  topic: string;
  baseUrl: string;
  timeoutMs: number;
}

const JWT_REUSE_MS = 50 * 60_000;
/** Not a device token (those are hex): the credential probe's path. */
export const APNS_PROBE_TOKEN = 'parley-credential-probe';
const DEAD_REASONS = new Set(['BadDeviceToken', 'Unregistered', 'DeviceTokenNotForTopic', 'ExpiredToken']);
const CREDENTIAL_REASONS = new Set(['InvalidProviderToken', 'MissingProviderToken', 'BadCertificate', 'BadCertificateEnvironment', 'Forbidden', 'TopicDisallowed', 'BadTopic', 'MissingTopic']);

export function apnsPayload(n: Notification): Record<string, unknown> {
  return {
    aps: { alert: n.hasPreview ? { title: n.title, body: n.body } : { title: n.title }, badge: n.badge, sound: 'default', 'thread-id': n.collapseKey },
    id: n.id,
    chatId: n.chatId,
    seq: Number(n.seq),
    messageId: n.messageId,
  };
}

export class ApnsProvider implements Provider {
  readonly name = 'apns' as const;
  private session?: ClientHttp2Session;
  private jwt?: { token: string; at: number };
  private key?: Promise<KeyLike>;

  constructor(private readonly s: ApnsSettings) {}

  private async bearer(force: boolean): Promise<string> {
    if (!force && this.jwt && Date.now() - this.jwt.at < JWT_REUSE_MS) return this.jwt.token;
    this.key ??= importPKCS8(this.s.key, 'ES256');
    const at = Date.now();
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: this.s.keyId })
      .setIssuer(this.s.teamId)
      .setIssuedAt(Math.floor(at / 1000))
      .sign(await this.key);
    this.jwt = { token, at };
    return token;
  }

  private connection(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = connect(this.s.baseUrl);
    s.on('error', () => s.destroy());
    s.on('goaway', () => s.close());
    s.setTimeout(5 * 60_000, () => s.close());
    s.unref();
    this.session = s;
    return s;
  }

  private request(path: string, headers: Record<string, string>, body: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
    return new Promise((resolve, reject) => {
      let req;
      try {
        req = this.connection().request({ [constants.HTTP2_HEADER_METHOD]: 'POST', [constants.HTTP2_HEADER_PATH]: path, ...headers });
      } catch (err) {
        reject(err as Error);
        return;
      }
      const timer = setTimeout(() => req.close(constants.NGHTTP2_CANCEL), this.s.timeoutMs);
      let status = 0;
      let h: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      req.on('response', (hs) => {
        status = Number(hs[constants.HTTP2_HEADER_STATUS]);
        h = hs as Record<string, string | string[] | undefined>;
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        clearTimeout(timer);
        if (status === 0) reject(new Error('stream closed without a response'));
        else resolve({ status, headers: h, body: Buffer.concat(chunks).toString('utf8') });
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(body);
    });
  }

  async send(reg: Registration, n: Notification): Promise<SendOutcome> {
    const body = JSON.stringify(apnsPayload(n));
    for (let authTry = 0; ; authTry++) {
      let r;
      try {
        const bearer = await this.bearer(authTry > 0);
        r = await this.request(`/3/device/${reg.token}`, {
          authorization: `bearer ${bearer}`,
          'apns-topic': this.s.topic,
          'apns-push-type': 'alert',
          'apns-priority': '10',
          'apns-collapse-id': n.collapseKey,
          'apns-id': n.id,
          'apns-expiration': String(Math.floor(Date.now() / 1000) + 86_400),
          'content-type': 'application/json',
        }, body);
      } catch {
        return { kind: 'retry', reason: 'network' };
      }
      if (r.status === 200) return { kind: 'sent', providerId: String(r.headers['apns-id'] ?? n.id) };
      let reason = `http_${r.status}`;
      try {
        reason = (JSON.parse(r.body) as { reason?: string }).reason ?? reason;
      } catch {
        /* no JSON body */
      }
      if (reason === 'ExpiredProviderToken' && authTry === 0) continue; // a fresh JWT, once
      if (r.status === 410 || DEAD_REASONS.has(reason)) return { kind: 'dead', reason };
      if (r.status === 403 || CREDENTIAL_REASONS.has(reason) || reason === 'ExpiredProviderToken') return { kind: 'credentials', reason };
      if (r.status === 429 || r.status >= 500) return { kind: 'retry', reason, retryAfterMs: parseRetryAfter(r.headers['retry-after']) };
      return { kind: 'rejected', reason };
    }
  }

  /**
   * A fresh provider token against a device token no device has: APNs checks the provider token first (403
   * InvalidProviderToken & co.), then answers 400 BadDeviceToken, so anything but a credential refusal means
   * the credentials work. Nobody is notified.
   */
  async probe(): Promise<ProbeOutcome> {
    let r;
    try {
      const bearer = await this.bearer(true);
      r = await this.request(`/3/device/${APNS_PROBE_TOKEN}`, {
        authorization: `bearer ${bearer}`,
        'apns-topic': this.s.topic,
        'apns-push-type': 'alert',
        'apns-priority': '10',
        'content-type': 'application/json',
      }, JSON.stringify({ aps: { alert: { title: 'probe' } } }));
    } catch (err) {
      return { kind: 'unavailable', reason: (err as Error).message };
    }
    let reason = `http_${r.status}`;
    try {
      reason = (JSON.parse(r.body) as { reason?: string }).reason ?? reason;
    } catch {
      /* no JSON body */
    }
    if (r.status === 403 || CREDENTIAL_REASONS.has(reason) || reason === 'ExpiredProviderToken') return { kind: 'credentials', reason };
    if (r.status === 429 || r.status >= 500) return { kind: 'unavailable', reason };
    return { kind: 'ok' };
  }

  async close(): Promise<void> {
    this.session?.close();
  }
}
