// Shared helpers of the presence e2e suites (not a test file): the chat helpers plus ways to read the
// receipt, presence and typing events a Device recorded.
import type { Presence, ServerEvent } from '@parley/client';
import { Device, chatMesh, type Mesh } from '../chat/helpers.js';

export * from '../chat/helpers.js';

/** 2 s heartbeats, so "2.5 heartbeat intervals" is 5 s. */
export const HEARTBEAT_MS = 2000;

export function presenceMesh(env: Record<string, string> = {}): Promise<Mesh> {
  return chatMesh({ GATEWAY_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS), ...env });
}

export interface ReceiptItem {
  chatId: string;
  userId: string;
  status: 'delivered' | 'read';
  seqs?: number[];
  upToSeq?: number;
}

/** Every receipt a device got (single `receipt` events and the items of `receipts` batches), with the frame index. */
export function receiptsOf(d: Device, n?: number): (ReceiptItem & { frame: number })[] {
  const evs: ServerEvent[] = n === undefined ? d.log.map((l) => l.ev) : d.eventsOf(n);
  const out: (ReceiptItem & { frame: number })[] = [];
  evs.forEach((e, i) => {
    if (e.event === 'receipt') out.push({ ...(e.data as ReceiptItem), frame: i });
    if (e.event === 'receipts') for (const r of (e.data as { receipts: ReceiptItem[] }).receipts) out.push({ ...r, frame: i });
  });
  return out;
}

/** How many receipt frames (`receipt` or `receipts`) a device got. */
export function receiptFrames(d: Device, chatId?: string): number {
  return d.log.filter(
    (l) =>
      (l.ev.event === 'receipt' || l.ev.event === 'receipts') && (chatId === undefined || (l.ev.data as { chatId: string }).chatId === chatId),
  ).length;
}

export function deliveredTo(d: Device, chatId: string, byUser: string, seq: number): boolean {
  return receiptsOf(d).some(
    (r) => r.chatId === chatId && r.userId === byUser && r.status === 'delivered' && ((r.seqs ?? []).includes(seq) || (r.upToSeq ?? 0) >= seq),
  );
}

export function readBy(d: Device, chatId: string, byUser: string, seq: number): boolean {
  return receiptsOf(d).some((r) => r.chatId === chatId && r.userId === byUser && r.status === 'read' && (r.upToSeq ?? 0) >= seq);
}

export function presenceEvents(d: Device, userId?: string, n?: number): Presence[] {
  const evs: ServerEvent[] = n === undefined ? d.log.map((l) => l.ev) : d.eventsOf(n);
  return evs
    .filter((e) => e.event === 'presence')
    .map((e) => (e.data as { presence: Presence }).presence)
    .filter((p) => userId === undefined || p.userId === userId);
}

export function typingEvents(d: Device, chatId?: string): { chatId: string; userId: string; state: string }[] {
  return d.log
    .filter((l) => l.ev.event === 'typing')
    .map((l) => l.ev.data as { chatId: string; userId: string; state: string })
    .filter((t) => chatId === undefined || t.chatId === chatId);
}

/** Retries a request while it fails with `unavailable` (what a client does after a service restart). */
export async function retryUnavailable<T>(fn: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if ((e as { code?: string }).code !== 'unavailable' || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
