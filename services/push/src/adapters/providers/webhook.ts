// Webhook: POST of a small JSON body to the registered URL, signed with HMAC-SHA256 over `<timestamp>.<body>`:
//   X-Parley-Timestamp: <unix seconds>
//   X-Parley-Signature: v1=<hex hmac-sha256(secret, timestamp + "." + body)>
// Receivers should reject timestamps more than 5 minutes off and dedupe by `id` (docs/protocol.md "Push").
// The URL is the client's, so 401/403 mean "this receiver refused us", not "our secret is wrong": rejected.
import { createHmac } from 'node:crypto';
import type { Notification, Provider, Registration, SendOutcome } from '../../domain/types.js';
import { BlockedDestinationError, outcomeOfStatus, parseRetryAfter, type HttpClient } from './http-client.js';

export function webhookBody(n: Notification): string {
  return JSON.stringify({
    id: n.id,
    type: 'message',
    userId: n.userId,
    deviceId: n.deviceId,
    chatId: n.chatId,
    seq: Number(n.seq),
    messageId: n.messageId,
    badge: n.badge,
    ...(n.hasPreview ? { title: n.title, body: n.body } : { title: n.title }),
    createdAt: new Date(n.createdAt).toISOString(),
  });
}

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class WebhookProvider implements Provider {
  readonly name = 'webhook' as const;
  constructor(
    private readonly http: HttpClient,
    private readonly secret: string,
  ) {}

  async send(reg: Registration, n: Notification): Promise<SendOutcome> {
    const body = webhookBody(n);
    const ts = Math.floor(Date.now() / 1000);
    try {
      const r = await this.http.send(reg.token, {
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'x-parley-timestamp': String(ts),
          'x-parley-signature': signWebhook(this.secret, ts, body),
          'x-parley-notification-id': n.id,
        },
        body,
        guard: true,
      });
      const o = outcomeOfStatus(r);
      if (o === 'sent') return { kind: 'sent' };
      if (o === 'dead') return { kind: 'dead', reason: `http_${r.status}` };
      if (o === 'retry') return { kind: 'retry', reason: `http_${r.status}`, retryAfterMs: parseRetryAfter(r.headers['retry-after']) };
      return { kind: 'rejected', reason: `http_${r.status}` };
    } catch (err) {
      if (err instanceof BlockedDestinationError) return { kind: 'rejected', reason: 'blocked_destination' };
      return { kind: 'retry', reason: 'network' };
    }
  }
}
