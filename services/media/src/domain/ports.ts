// What the media domain needs from the outside world (implemented in storage/ and adapters/peers.ts).
import type { MediaRecord } from './media.js';
import type { MediaLink, MemberView } from './access.js';

export interface MediaRows {
  create(m: MediaRecord): Promise<void>;
  get(mediaId: string, serial?: boolean): Promise<MediaRecord | undefined>;
  getMany(ids: string[]): Promise<Map<string, MediaRecord>>;
  transition(mediaId: string, to: number, at: number): Promise<boolean>;
  setThumbState(mediaId: string, thumbState: number): Promise<void>;
  markResolved(ids: string[], at: number): Promise<void>;
  unindex(mediaId: string, createdAt: number): Promise<void>;
  pendingInHour(hour: number): Promise<string[]>;
  deleteIndexRow(hour: number, mediaId: string): Promise<void>;
  recordLink(mediaId: string, chatId: string, seq: number, at: number): Promise<void>;
  links(mediaId: string): Promise<MediaLink[]>;
}

export interface Blobs {
  presignedPutBound(key: string, expirySeconds: number, headers: Record<string, string | number>, now?: Date): string;
  presignedGet(key: string, expirySeconds: number, respHeaders?: Record<string, string>): Promise<string>;
  statChecksum(key: string): Promise<{ size: number; contentType: string | undefined; sha256: string | undefined } | undefined>;
  get(key: string): Promise<NodeJS.ReadableStream>;
  put(key: string, data: Buffer, contentType: string): Promise<void>;
  remove(key: string): Promise<void>;
}

export interface MembersPort {
  /** Current members (not those who left); [] for an unknown chat. */
  getMembers(chatId: string): Promise<MemberView[]>;
}

export interface ThumbnailPort {
  /** Renders a thumbnail (JPEG) of the image bytes; throws when the image is refused (too many pixels, corrupt). */
  render(input: NodeJS.ReadableStream): Promise<Buffer>;
}
