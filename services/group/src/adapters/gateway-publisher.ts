// chat.updated to devices: resolve member devices through session, group the online ones by gateway and
// publish one GatewayDelivery (protobuf binary) per gateway on Redis `<ns:>parley:gw:<gatewayId>`.
// Redis pub/sub is at-most-once: a device that is offline (or misses it) sees the change in chat.get /
// chat.list and in the system message of the sequence, which it always receives.
import { create, toBinary } from '@bufbuild/protobuf';
import { gatewayChannel, type Redis } from '@parley/kit';
import { eventsV1 } from '@parley/proto';
import type { ChatEvents, ChatView } from '../domain/model.js';
import { chatToProto } from './proto-convert.js';
import type { DeviceRoute } from './session-directory.js';

export interface DeviceRouter {
  deviceRoutes(userIds: string[]): Promise<DeviceRoute[]>;
}

export class GatewayPublisher implements ChatEvents {
  constructor(
    private readonly redis: Redis,
    private readonly router: DeviceRouter,
    private readonly namespace: string,
    private readonly onPublish?: (deliveries: number) => void,
  ) {}

  async chatUpdated(chat: ChatView, userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    const routes = await this.router.deviceRoutes(userIds);
    const byGateway = new Map<string, eventsV1.DeliveryTarget[]>();
    for (const r of routes) {
      if (!r.online || !r.gatewayId) continue;
      const list = byGateway.get(r.gatewayId) ?? [];
      list.push(create(eventsV1.DeliveryTargetSchema, { userId: r.userId, deviceId: r.deviceId, connectionId: r.connectionId }));
      byGateway.set(r.gatewayId, list);
    }
    const payload = chatToProto(chat);
    await Promise.all(
      [...byGateway].map(([gatewayId, targets]) => {
        const msg = create(eventsV1.GatewayDeliverySchema, { targets, payload: { case: 'chatUpdated', value: payload } });
        return this.redis.publish(gatewayChannel(this.namespace, gatewayId), Buffer.from(toBinary(eventsV1.GatewayDeliverySchema, msg)));
      }),
    );
    this.onPublish?.(byGateway.size);
  }
}
