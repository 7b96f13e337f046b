import type { Message } from '@parley/client';
import type { Store } from '../app/store.js';

/** One line for a system message (protocol.md §5 `system`). */
export function systemText(store: Store, m: Message): string {
  const s = m.system;
  if (!s) return 'System message';
  const actor = store.name(s.actor);
  // "You removed Carol", "Alice removed you"
  const people = (s.userIds ?? []).map((u) => (u === store.me ? 'you' : store.name(u))).join(', ');
  switch (s.action) {
    case 'created':
      return s.name ? `${actor} created the group “${s.name}”` : `${actor} started the chat`;
    case 'members.added':
      return `${actor} added ${people}`;
    case 'members.removed':
      return s.userIds?.length === 1 && s.userIds[0] === s.actor ? `${actor} left` : `${actor} removed ${people}`;
    case 'renamed':
      return `${actor} renamed the group to “${s.name ?? ''}”`;
    case 'role':
      return `${actor} made ${people} ${s.role === 'admin' ? 'an admin' : 'a member'}`;
    default:
      return 'System message';
  }
}
