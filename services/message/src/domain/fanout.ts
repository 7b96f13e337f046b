// Routing of one committed message to devices: online devices grouped by gateway (one GatewayDelivery per
// gateway), offline devices to push. The sending device itself is excluded; the sender's other devices are not.
import { groupByGateway, type DeliveryTarget, type DeviceRoute } from '@parley/kit';
import type { commonV1 } from '@parley/proto';

export type { DeviceRoute };
export type DeliveryTargetPlan = DeliveryTarget;

export interface DeliveryPlan {
  byGateway: Map<string, DeliveryTargetPlan[]>;
  offline: Array<{ userId: string; deviceId: string }>;
}

export function planDelivery(msg: Pick<commonV1.Message, 'sender'>, recipients: ReadonlySet<string>, routes: readonly DeviceRoute[]): DeliveryPlan {
  const senderUser = msg.sender?.userId ?? '';
  const senderDevice = msg.sender?.deviceId ?? '';
  const eligible = routes.filter((r) => recipients.has(r.userId) && !(senderDevice !== '' && r.userId === senderUser && r.deviceId === senderDevice));
  const byGateway = new Map<string, DeliveryTargetPlan[]>();
  for (const [gw, list] of groupByGateway(eligible)) byGateway.set(gw, list.map((r) => ({ userId: r.userId, deviceId: r.deviceId, connectionId: r.connectionId })));
  const offline: Array<{ userId: string; deviceId: string }> = [];
  const seenOffline = new Set<string>();
  for (const r of eligible) {
    if (r.online && r.gatewayId) continue;
    const k = `${r.userId}\u0000${r.deviceId}`;
    if (!seenOffline.has(k)) {
      seenOffline.add(k);
      offline.push({ userId: r.userId, deviceId: r.deviceId });
    }
  }
  // A device online on one connection is not also offline elsewhere.
  const online = new Set<string>();
  for (const list of byGateway.values()) for (const t of list) online.add(`${t.userId}\u0000${t.deviceId}`);
  return { byGateway, offline: offline.filter((d) => !online.has(`${d.userId}\u0000${d.deviceId}`)) };
}
