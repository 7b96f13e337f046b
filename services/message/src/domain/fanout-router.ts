// The fan-out worker's decision logic: who receives a committed message, on which gateway.
// Membership is cached per chat for speed and trusted only for the NEXT seq: an entry built while handling
// seq s is used for s + 1 only if nothing in between was missed, and it is dropped whenever a membership
// system message is routed. Any gap (cold start, replay, out-of-order publishes from another instance)
// reads membership through, and since seq s is committed only after every seq < s, a fresh read reflects
// every membership change before s. Snapshots with pending rows are not cached.
import { commonV1 } from '@parley/proto';
import { changesMembership, recipientsOf, type MemberRow } from './membership.js';
import { planDelivery, type DeliveryTargetPlan } from './fanout.js';
import type { GroupPort, RoutesPort } from './ports.js';

export interface DeliverySink {
  /** One publish per gateway. */
  toGateway(gatewayId: string, targets: DeliveryTargetPlan[], msg: commonV1.Message): Promise<void>;
  /** Push requests for offline devices. */
  toPush(msg: commonV1.Message, devices: Array<{ userId: string; deviceId: string }>): Promise<void>;
}

interface Entry {
  members: MemberRow[];
  lastSeq: bigint;
  fetchedAt: number;
}

export interface RouteStats {
  recipients: number;
  online: number;
  offline: number;
  gateways: number;
}

export class FanoutRouter {
  private readonly cache = new Map<string, Entry>();
  constructor(
    private readonly groups: GroupPort,
    private readonly routes: RoutesPort,
    private readonly sink: DeliverySink,
    private readonly opts: { ttlMs: number; maxChats?: number; now?: () => number },
  ) {}

  async route(msg: commonV1.Message): Promise<RouteStats> {
    const now = (this.opts.now ?? Date.now)();
    const e = this.cache.get(msg.chatId);
    const fresh = !(e && e.lastSeq + 1n === msg.seq && now - e.fetchedAt < this.opts.ttlMs);
    const members = fresh ? await this.groups.getMembers(msg.chatId, false) : e.members;
    if (changesMembership(msg) || members.some((m) => m.pending)) {
      this.cache.delete(msg.chatId);
    } else {
      if (this.cache.size >= (this.opts.maxChats ?? 50_000)) this.cache.clear();
      this.cache.set(msg.chatId, { members, lastSeq: msg.seq, fetchedAt: fresh ? now : e!.fetchedAt });
    }
    const recipients = recipientsOf(msg, members);
    if (recipients.length === 0) return { recipients: 0, online: 0, offline: 0, gateways: 0 };
    const routes = await this.routes.getDeviceRoutes(recipients);
    const plan = planDelivery(msg, new Set(recipients), routes);
    const jobs: Array<Promise<void>> = [];
    let online = 0;
    for (const [gw, targets] of plan.byGateway) {
      online += targets.length;
      jobs.push(this.sink.toGateway(gw, targets, msg));
    }
    // Push only for user messages (system messages reach the device through its backlog on next connect).
    if (plan.offline.length > 0 && msg.kind === commonV1.MessageKind.USER) jobs.push(this.sink.toPush(msg, plan.offline));
    await Promise.all(jobs);
    return { recipients: recipients.length, online, offline: plan.offline.length, gateways: plan.byGateway.size };
  }
}
