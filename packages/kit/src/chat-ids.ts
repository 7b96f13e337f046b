// Ids with a meaning shared by several services.
import { createHash } from 'node:crypto';

/** Deterministic id of the direct chat between two users: the same for (a, b) and (b, a); length-prefixed so no two pairs collide. */
export function directChatId(a: string, b: string): string {
  const [x, y] = a < b ? [a, b] : [b, a];
  const digest = createHash('sha256').update(`${x.length}:${x}|${y}`).digest('base64url');
  return `d_${digest.slice(0, 27)}`;
}

/** Direct chat ids (and only they) start with `d_` (group ids are generated otherwise). */
export function isDirectChatId(chatId: string): boolean {
  return chatId.startsWith('d_');
}
