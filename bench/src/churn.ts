// Pure logic of the presence churn (scenario `presence`, presence.ts): the paced schedule of connects and
// the matching of what each subscriber saw against what each churning device did.

export type Status = 'online' | 'offline';

/**
 * One transition a churning device made, in wall-clock ms (performance.timeOrigin + now(), the same clock
 * in every process of the box): its connect call (online; `ready` = its session.ready) or its clean close call
 * (offline).
 */
export interface Transition {
  status: Status;
  at: number;
  ready?: number;
}

/** One `presence` event a subscriber connection received for one user, in arrival order. */
export interface Seen {
  status: Status;
  at: number;
}

export interface Tally {
  expected: number;
  matched: number;
  /** An event with the status of the transition matched just before it and no new transition to match. */
  duplicate: number;
  /** An event for a user the connection does not watch, or one that matches no transition that had happened. */
  unexpected: number;
  /** connect call → the subscriber's online event */
  online: number[];
  /** session.ready → the subscriber's online event (negative when the event overtook the ready frame) */
  onlineReady: number[];
  /** clean close call → the subscriber's offline event */
  offline: number[];
}

export const newTally = (): Tally => ({ expected: 0, matched: 0, duplicate: 0, unexpected: 0, online: [], onlineReady: [], offline: [] });

export const missing = (t: Tally): number => t.expected - t.matched;

/**
 * Matches the events one subscriber connection saw for one user against the transitions the user made (both
 * in order). An event goes to the earliest unmatched transition with its status that had already happened
 * (its action time ≤ the event's arrival): transitions skipped over are missing. An event that finds none is a
 * duplicate if it repeats the status of the last matched transition, else unexpected.
 */
export function matchUser(
  transitions: readonly Transition[],
  events: readonly Seen[],
  into: Tally,
  /** Told of every duplicate / unexpected event with the latest transition that had happened before it. */
  onAnomaly?: (kind: 'duplicate' | 'unexpected', e: Seen, before: Transition | undefined) => void,
): Tally {
  into.expected += transitions.length;
  let next = 0; // the first transition not matched and not skipped
  let last: Status | undefined;
  for (const e of events) {
    let m = -1;
    for (let i = next; i < transitions.length; i++) {
      const t = transitions[i]!;
      if (t.at > e.at) break; // in order: every later one happened later still
      if (t.status === e.status) {
        m = i;
        break;
      }
    }
    if (m < 0) {
      const kind = last === e.status ? 'duplicate' : 'unexpected';
      into[kind] += 1;
      if (onAnomaly) {
        let before: Transition | undefined;
        for (const t of transitions) if (t.at <= e.at) before = t;
        onAnomaly(kind, e, before);
      }
      continue;
    }
    const t = transitions[m]!;
    into.matched += 1;
    if (t.status === 'online') {
      into.online.push(e.at - t.at);
      if (t.ready !== undefined) into.onlineReady.push(e.at - t.ready);
    } else into.offline.push(e.at - t.at);
    next = m + 1;
    last = e.status;
  }
  return into;
}

/**
 * The paced churn: device `i` of `n` makes its `k`-th connect at `t0 + (k·n + i) / rate` seconds, so connects
 * start at `rate` per second across all devices and one device's cycles are `n / rate` seconds apart.
 */
export function dueAt(t0: number, rate: number, n: number, i: number, k: number): number {
  return t0 + ((k * n + i) / rate) * 1000;
}

/**
 * Why a churn cannot show every transition, or undefined. A device reconnecting within the presence
 * service's flap grace window after a close that the service took as unclean would show no offline/online
 * pair, and a hold shorter than zero is no hold: each device's cycle (`n / rate` s) must leave its hold plus
 * the grace window plus `marginMs` between its close and its next connect.
 */
export function churnProblem(o: { n: number; rate: number; holdMs: number; graceMs: number; cycles: number; marginMs?: number }): string | undefined {
  if (!(o.n > 0) || !(o.rate > 0)) return 'devices and rate must be positive';
  if (o.holdMs < 0) return 'hold must be ≥ 0';
  const cycleMs = (o.n / o.rate) * 1000;
  const need = o.holdMs + o.graceMs + (o.marginMs ?? 1000);
  if (o.cycles > 1 && cycleMs < need)
    return `a device's cycles would be ${Math.round(cycleMs)} ms apart (devices ÷ rate), less than hold ${o.holdMs} ms + grace ${o.graceMs} ms + margin: a reconnect inside the grace window shows no offline/online pair; lower the rate or add devices`;
  return undefined;
}

/** Which users subscriber `s` of `subs` watches: each user is watched by `fanout` subscribers (consecutive ones, mod subs). */
export function watchedBy(s: number, subs: number, n: number, fanout: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const first = i % subs;
    const d = (s - first + subs) % subs;
    if (d < fanout) out.push(i);
  }
  return out;
}

/** `ids` in chunks of at most `max` (presence.subscribe takes ≤ 500 ids). */
export function chunks<T>(ids: readonly T[], max: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < ids.length; i += max) out.push(ids.slice(i, i + max));
  return out;
}
