import { useEffect, useReducer } from 'preact/hooks';
import type { Store } from '../app/store.js';

/** Re-render whenever the store changes. */
export function useStore(store: Store): void {
  const [, bump] = useReducer((n: number, _: void) => n + 1, 0);
  useEffect(() => store.subscribe(() => bump(undefined)), [store]);
}

export function timeOf(iso: string): string {
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function dayOrTime(iso: string): string {
  const d = new Date(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return timeOf(iso);
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

export function lastSeenText(iso: string): string {
  const d = new Date(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return `last seen today at ${timeOf(iso)}`;
  return `last seen ${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} at ${timeOf(iso)}`;
}

export function membersText(n: number): string {
  return n === 1 ? '1 member' : `${n} members`;
}
