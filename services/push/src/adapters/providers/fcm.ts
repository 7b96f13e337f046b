// FCM HTTP v1: OAuth 2.0 service-account flow (an RS256 JWT signed with the service account's key, exchanged
// at its token_uri for an access token, cached until shortly before it expires), then
// POST {base}/v1/projects/{project_id}/messages:send. Collapse: android collapse_key + notification tag,
// apns-collapse-id; the badge goes in android notification_count and aps.badge; the notification id in data.
import { importPKCS8, SignJWT, type KeyLike } from 'jose';
import type { Notification, ProbeOutcome, Provider, Registration, SendOutcome } from '../../domain/types.js';
import { parseRetryAfter, type HttpClient, type HttpResponse } from './http-client.js';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';

export interface ServiceAccount {
  project_id: string;
  private_key_id?: string;
  private_key: string;
  client_email: string;
  token_uri: string;
}

export function parseServiceAccount(json: string): ServiceAccount {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(json) as Record<string, unknown>;
  } catch {
    throw new Error('PUSH_FCM_SERVICE_ACCOUNT is not JSON');
  }
  for (const f of ['project_id', 'private_key', 'client_email', 'token_uri'])
    if (typeof v[f] !== 'string' || (v[f] as string).length === 0) throw new Error(`PUSH_FCM_SERVICE_ACCOUNT: missing ${f}`);
  return v as unknown as ServiceAccount;
}

export function fcmMessage(token: string, n: Notification): Record<string, unknown> {
  return {
    message: {
      token,
      notification: n.hasPreview ? { title: n.title, body: n.body } : { title: n.title },
      data: { id: n.id, chatId: n.chatId, seq: String(n.seq), messageId: n.messageId, badge: String(n.badge) },
      android: { collapse_key: n.collapseKey, priority: 'high', notification: { tag: n.collapseKey, notification_count: n.badge } },
      apns: { headers: { 'apns-collapse-id': n.collapseKey }, payload: { aps: { badge: n.badge } } },
    },
  };
}

interface FcmErrorBody {
  error?: { code?: number; status?: string; message?: string; details?: Array<{ '@type'?: string; errorCode?: string }> };
}

export function fcmErrorCode(r: HttpResponse): string {
  try {
    const b = JSON.parse(r.body) as FcmErrorBody;
    const d = b.error?.details?.find((x) => x.errorCode);
    return d?.errorCode ?? b.error?.status ?? `http_${r.status}`;
  } catch {
    return `http_${r.status}`;
  }
}

export class FcmProvider implements Provider {
  readonly name = 'fcm' as const;
  private access?: { token: string; expiresAt: number };
  private refreshing?: Promise<string>;
  private key?: Promise<KeyLike>;

  constructor(
    private readonly http: HttpClient,
    private readonly sa: ServiceAccount,
    private readonly baseUrl: string,
  ) {}

  /** A cached access token; a new one when none or within a minute of expiry. */
  async accessToken(force = false): Promise<string> {
    if (!force && this.access && this.access.expiresAt - 60_000 > Date.now()) return this.access.token;
    this.refreshing ??= this.fetchToken().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async fetchToken(): Promise<string> {
    this.key ??= importPKCS8(this.sa.private_key, 'RS256');
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(this.sa.private_key_id ? { kid: this.sa.private_key_id } : {}) })
      .setIssuer(this.sa.client_email)
      .setAudience(this.sa.token_uri)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(await this.key);
    const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString();
    const r = await this.http.send(this.sa.token_uri, {
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      body,
      guard: false,
    });
    if (r.status === 400 || r.status === 401 || r.status === 403) throw new CredentialsError(`token endpoint answered ${r.status}: ${r.body.slice(0, 200)}`);
    if (r.status !== 200) throw new Error(`token endpoint answered ${r.status}`);
    const j = JSON.parse(r.body) as { access_token?: string; expires_in?: number };
    if (!j.access_token) throw new CredentialsError('token endpoint returned no access_token');
    this.access = { token: j.access_token, expiresAt: Date.now() + (j.expires_in ?? 3600) * 1000 };
    return j.access_token;
  }

  /** POST projects/<id>/messages:send: a configured endpoint, so not through the SSRF guard (that is for URLs clients give). */
  private post(body: string, token: string): Promise<HttpResponse> {
    return this.http.send(`${this.baseUrl.replace(/\/$/, '')}/v1/projects/${encodeURIComponent(this.sa.project_id)}/messages:send`, {
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
      body,
      guard: false,
    });
  }

  async send(reg: Registration, n: Notification): Promise<SendOutcome> {
    const body = JSON.stringify(fcmMessage(reg.token, n));
    for (let authTry = 0; ; authTry++) {
      let token: string;
      try {
        token = await this.accessToken(authTry > 0);
      } catch (err) {
        if (err instanceof CredentialsError) return { kind: 'credentials', reason: err.message };
        return { kind: 'retry', reason: 'oauth_unavailable' };
      }
      let r: HttpResponse;
      try {
        r = await this.post(body, token);
      } catch {
        return { kind: 'retry', reason: 'network' };
      }
      if (r.status === 200) {
        const name = (JSON.parse(r.body) as { name?: string }).name;
        return { kind: 'sent', ...(name ? { providerId: name } : {}) };
      }
      const code = fcmErrorCode(r);
      if (r.status === 401 && authTry === 0) {
        this.access = undefined; // expired or revoked: one fresh token, then it is the credential
        continue;
      }
      if (code === 'UNREGISTERED' || r.status === 404) return { kind: 'dead', reason: code };
      if (code === 'SENDER_ID_MISMATCH') return { kind: 'dead', reason: code };
      if (r.status === 401 || code === 'THIRD_PARTY_AUTH_ERROR' || (r.status === 403 && code === 'PERMISSION_DENIED'))
        return { kind: 'credentials', reason: code };
      if (r.status === 429 || r.status >= 500) return { kind: 'retry', reason: code, retryAfterMs: parseRetryAfter(r.headers['retry-after']) };
      return { kind: 'rejected', reason: code };
    }
  }

  /**
   * A fresh access token, then `validate_only: true` to a placeholder token: FCM checks the request and our
   * authorization without delivering anything (200, or 400 for the made-up token, means the credentials work).
   */
  async probe(): Promise<ProbeOutcome> {
    let token: string;
    try {
      this.access = undefined;
      token = await this.accessToken(true);
    } catch (err) {
      return err instanceof CredentialsError ? { kind: 'credentials', reason: err.message } : { kind: 'unavailable', reason: (err as Error).message };
    }
    const body = JSON.stringify({ validate_only: true, message: { token: FCM_PROBE_TOKEN, data: { probe: '1' } } });
    let r: HttpResponse;
    try {
      r = await this.post(body, token);
    } catch (err) {
      return { kind: 'unavailable', reason: (err as Error).message };
    }
    if (r.status === 200 || r.status === 400) return { kind: 'ok' };
    if (r.status === 401 || r.status === 403) return { kind: 'credentials', reason: fcmErrorCode(r) };
    return { kind: 'unavailable', reason: fcmErrorCode(r) };
  }
}

export class CredentialsError extends Error {}

/** A registration token no device has: a validate_only send to it checks our credentials and notifies nobody. */
export const FCM_PROBE_TOKEN = 'parley-credential-probe';
