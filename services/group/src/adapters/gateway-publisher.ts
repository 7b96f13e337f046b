// chat.updated to devices: resolve member devices through session, group the online ones by gateway and
// publish one GatewayDelivery (protobuf binary) per gateway on Redis `<ns:>parley:gw:<gatewayId>`
// (@parley/kit GatewayDeliveries). Redis pub/sub is at-most-once: a device that is offline (or misses it)
// sees the change in chat.get / chat.list and in the system message of the sequence, which it always receives.
import { GatewayDeliveries, type DeviceRoute, type Redis } from '@parley/kit';
import type { ChatEvents, ChatView } from '../domain/model.js';
import { chatToProto } from './proto-convert.js';

export interface DeviceRouter {
  deviceRoutes(userIds: string[]): Promise<DeviceRoute[]>;
}

export class GatewayPublisher implements ChatEvents {
  private readonly deliveries: GatewayDeliveries;

  constructor(
    redis: Redis,
    private readonly router: DeviceRouter,
    namespace: string,
    private readonly onPublish?: (deliveries: number) => void,
  ) {
    this.deliveries = new GatewayDeliveries(redis, namespace);
  }

  async chatUpdated(chat: ChatView, userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    const routes = await this.router.deviceRoutes(userIds);
    const gateways = await this.deliveries.toGateways(routes, { case: 'chatUpdated', value: chatToProto(chat) });
    this.onPublish?.(gateways);
  }
}
