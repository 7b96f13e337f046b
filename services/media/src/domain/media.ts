// The media record and its states. Stored as ints in Cassandra (media.state).
export const State = { pending: 1, ready: 2, failed: 3, expired: 4 } as const;
export type StateValue = (typeof State)[keyof typeof State];

export const Thumb = { none: 0, ready: 1, failed: 2 } as const;

export interface MediaRecord {
  mediaId: string;
  ownerUserId: string;
  contentType: string;
  size: number;
  sha256: string;
  fileName: string | undefined;
  state: number;
  createdAt: number;
  /** When the upload URL stops working. */
  expiresAt: number;
  thumbState: number;
  /** Last time ResolveAttachments accepted it for a send (ms), 0 if never. */
  resolvedAt: number;
  /** Last time a media -> chat link was recorded for it (ms), 0 if never. */
  linkedAt: number;
}

export const objectKey = (mediaId: string) => `m/${mediaId}`;
export const thumbKey = (mediaId: string) => `t/${mediaId}.jpg`;
/** Pending uploads are indexed by creation hour for the sweeper. */
export const HOUR_MS = 3600_000;
export const hourOf = (ms: number) => Math.floor(ms / HOUR_MS);
