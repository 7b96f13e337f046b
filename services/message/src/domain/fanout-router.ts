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
import { MembershipCache } from './membership-cache.js';

export interface DeliverySink {
  /** One publish per gateway. */
  toGateway(gatewayId: string, targets: DeliveryTargetPlan[], msg: commonV1.Message): Promise<void>;
  /** Push requests for offline devices. */
  toPush(msg: commonV1.Message, devices: Array<{ userId: string; deviceId: string }>): Promise<void>;
}

export interface RouteStats {
  recipients: number;
  online: number;
  offline: number;
  gateways: number;
}

export class FanoutRouter {
  /** Snapshots valid as of the last seq routed from them (asOf), used for the next seq only. */
  private readonly cache: MembershipCache;
  constructor(
    private readonly groups: GroupPort,
    private readonly routes: RoutesPort,
    private readonly sink: DeliverySink,
    opts: { ttlMs: number; maxChats?: number; now?: () => number },
  ) {
    this.cache = new MembershipCache(opts);
  }

  async route(msg: commonV1.Message): Promise<RouteStats> {
    const now = this.cache.now();
    const e = this.cache.get(msg.chatId);
    const fresh = !(e && e.asOf + 1n === msg.seq);
    const members: readonly MemberRow[] = fresh ? await this.groups.getMembers(msg.chatId, false) : e.members;
    if (changesMembership(msg)) this.cache.invalidate(msg.chatId);
    else this.cache.put(msg.chatId, members, msg.seq, fresh ? now : e!.fetchedAt);
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
