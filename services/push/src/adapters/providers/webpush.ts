// Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), through the `web-push`
// library's request builder; the request itself goes through the guarded HTTP client (SSRF). The subscription
// is the registration token (the browser's PushSubscription JSON). Topic = the collapse key (the push service
// replaces an undelivered message with the same topic), Urgency high, TTL 24 h.
import webpush from 'web-push';
import type { Notification, Provider, Registration, SendOutcome } from '../../domain/types.js';
import { BlockedDestinationError, parseRetryAfter, type HttpClient } from './http-client.js';

export interface VapidSettings {
  publicKey: string;
  privateKey: string;
  subject: string;
}

export function webPushPayload(n: Notification): string {
  return JSON.stringify({
    id: n.id,
    chatId: n.chatId,
    seq: Number(n.seq),
    badge: n.badge,
    title: n.title,
    ...(n.hasPreview ? { body: n.body } : {}),
  });
}

export class WebPushProvider implements Provider {
  readonly name = 'webpush' as const;
  constructor(
    private readonly http: HttpClient,
    private readonly vapid: VapidSettings,
    private readonly ttlSeconds = 86_400,
  ) {
    // Fails at start on malformed keys (the service then disables the provider and says so).
    webpush.generateRequestDetails({ endpoint: 'https://push.invalid/x', keys: { p256dh: '', auth: '' } }, undefined, {
      vapidDetails: vapid,
    });
  }

  async send(reg: Registration, n: Notification): Promise<SendOutcome> {
    let details: { endpoint: string; headers: Record<string, string | number>; body: Buffer | null; method: string };
    try {
      const sub = JSON.parse(reg.token) as webpush.PushSubscription;
      details = webpush.generateRequestDetails(sub, webPushPayload(n), {
        vapidDetails: this.vapid,
        TTL: this.ttlSeconds,
        urgency: 'high',
        topic: n.collapseKey.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 32),
        contentEncoding: 'aes128gcm',
      }) as unknown as typeof details;
    } catch (err) {
      return { kind: 'dead', reason: `bad_subscription: ${(err as Error).message}` };
    }
    try {
      const r = await this.http.send(details.endpoint, { method: details.method, headers: details.headers, body: details.body ?? undefined, guard: true });
      if (r.status >= 200 && r.status < 300) return { kind: 'sent', providerId: String(r.headers.location ?? '') };
      if (r.status === 404 || r.status === 410) return { kind: 'dead', reason: `http_${r.status}` };
      if (r.status === 429 || r.status >= 500) return { kind: 'retry', reason: `http_${r.status}`, retryAfterMs: parseRetryAfter(r.headers['retry-after']) };
      // 401/403: this push service refused our VAPID JWT for this subscription (e.g. made with another key). The
      // endpoint is the client's, so it must not be able to disable Web Push for everyone: rejected, counted.
      if (r.status === 401 || r.status === 403) return { kind: 'rejected', reason: `vapid_refused_${r.status}` };
      return { kind: 'rejected', reason: `http_${r.status}` };
    } catch (err) {
      if (err instanceof BlockedDestinationError) return { kind: 'rejected', reason: 'blocked_destination' };
      return { kind: 'retry', reason: 'network' };
    }
  }
}
