// The push domain's shapes (no I/O).
export type PlatformName = 'fcm' | 'apns' | 'webpush' | 'webhook';
export const PLATFORMS: readonly PlatformName[] = ['fcm', 'apns', 'webpush', 'webhook'];

export interface Registration {
  userId: string;
  deviceId: string;
  platform: PlatformName;
  token: string;
  updatedAt: number;
}

/** One notification for one device, as every provider renders it. */
export interface Notification {
  /** Stable per (device, chat, newest seq covered): providers and receivers dedupe by it. */
  id: string;
  userId: string;
  deviceId: string;
  chatId: string;
  /** Newest message covered. */
  seq: bigint;
  messageId: string;
  /** Messages in this chat since the first alert of this streak (the badge). */
  badge: number;
  /** The collapse key: one visible alert per (device, chat). */
  collapseKey: string;
  title: string;
  body: string;
  /** false for ciphertext bodies and with previews off: no content at all beyond "new message". */
  hasPreview: boolean;
  createdAt: number;
}

/** What a provider said about one send. */
export type SendOutcome =
  | { kind: 'sent'; providerId?: string }
  /** The token is dead: delete the registration, never retry. */
  | { kind: 'dead'; reason: string }
  /** 429 / 5xx / network: retry later (retryAfterMs from Retry-After when given). */
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  /** Our credential is invalid: disable the provider. */
  | { kind: 'credentials'; reason: string }
  /** Permanently refused (bad request for this token): drop, count. */
  | { kind: 'rejected'; reason: string };

/** What a credential probe found (a disabled provider is re-probed with backoff). */
export type ProbeOutcome = { kind: 'ok' } | { kind: 'credentials'; reason: string } | { kind: 'unavailable'; reason: string };

export interface Provider {
  readonly name: PlatformName;
  send(reg: Registration, n: Notification): Promise<SendOutcome>;
  /**
   * Checks our credentials without notifying anyone (FCM: a fresh access token and a validate_only send; APNs: a
   * fresh provider token against a placeholder device token). Without it, a re-enabled provider's next real send
   * is the probe.
   */
  probe?(): Promise<ProbeOutcome>;
  close?(): Promise<void>;
}
