// Presence's own shapes. Pure.
export type LastSeenVisibility = 'everyone' | 'contacts' | 'nobody';

export interface UserSettings {
  lastSeen: LastSeenVisibility;
  readReceipts: boolean;
}

export const DEFAULT_SETTINGS: UserSettings = { lastSeen: 'everyone', readReceipts: true };

export interface Conn {
  userId: string;
  deviceId: string;
  gatewayId: string;
  connectionId: string;
}

export interface PresenceState {
  userId: string;
  online: boolean;
  /** ms; 0 = unknown or hidden. */
  lastSeen: number;
}

export interface ReceiptMark {
  userId: string;
  deliveredSeq: bigint;
  deliveredAt: number;
  readSeq: bigint;
  readAt: number;
}

/**
 * Whether `viewer` may see `owner`'s lastSeen (protocol §8.6). Online/offline is always visible, as in
 * WhatsApp; only the time is hidden. A user always sees their own.
 */
export function lastSeenVisible(owner: string, viewer: string, setting: LastSeenVisibility, isContact: boolean): boolean {
  if (owner === viewer) return true;
  if (setting === 'everyone') return true;
  if (setting === 'contacts') return isContact;
  return false;
}
