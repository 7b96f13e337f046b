// Deliveries to devices through their gateways: each online device's route names the gateway holding its
// connection (session's GetDeviceRoutes), the targets are grouped by that gateway, and each gateway gets one
// protobuf GatewayDelivery on its Redis channel (`<ns:>parley:gw:<gatewayId>`, pub/sub: at-most-once; the
// inbox backlog is the reliable path). One definition for message's fan-out, group's chat.updated and
// presence's presence/typing/receipt frames.
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { eventsV1, type sessionV1 } from '@parley/proto';
import { gatewayChannel, type Redis } from './redis.js';

/** A device's route as session answers it: parley.session.v1.DeviceRoute without the message envelope. */
export type DeviceRoute = Omit<sessionV1.DeviceRoute, '$typeName' | '$unknown'>;

/** One connection a delivery is for. */
export type DeliveryTarget = Pick<DeviceRoute, 'userId' | 'deviceId' | 'connectionId'>;

export type GatewayDeliveryPayload = MessageInitShape<typeof eventsV1.GatewayDeliverySchema>['payload'];

/**
 * The routes grouped by the gateway holding the connection, in the order given; routes that are offline
 * (`online: false`) or on no gateway are left out.
 */
export function groupByGateway<T extends { gatewayId: string; online?: boolean }>(routes: Iterable<T>): Map<string, T[]> {
  const byGateway = new Map<string, T[]>();
  for (const r of routes) {
    if (r.online === false || !r.gatewayId) continue;
    let list = byGateway.get(r.gatewayId);
    if (!list) byGateway.set(r.gatewayId, (list = []));
    list.push(r);
  }
  return byGateway;
}

/** Publishes GatewayDeliveries on the gateways' Redis channels. */
export class GatewayDeliveries {
  constructor(
    private readonly redis: Redis,
    private readonly namespace: string,
  ) {}

  /** One GatewayDelivery to one gateway. */
  async publish(gatewayId: string, targets: readonly DeliveryTarget[], payload: GatewayDeliveryPayload): Promise<void> {
    const d = create(eventsV1.GatewayDeliverySchema, {
      targets: targets.map((t) => ({ userId: t.userId, deviceId: t.deviceId, connectionId: t.connectionId })),
      payload,
    });
    await this.redis.publish(gatewayChannel(this.namespace, gatewayId), Buffer.from(toBinary(eventsV1.GatewayDeliverySchema, d)));
  }

  /**
   * Groups `targets` by gateway (groupByGateway) and publishes one GatewayDelivery to each, concurrently;
   * `onPublished` runs after each publish with that gateway's target count. Resolves to the number of gateways.
   */
  async toGateways(
    targets: Iterable<DeliveryTarget & { gatewayId: string; online?: boolean }>,
    payload: GatewayDeliveryPayload,
    onPublished?: (targets: number) => void,
  ): Promise<number> {
    const byGateway = groupByGateway(targets);
    await Promise.all(
      [...byGateway].map(async ([gatewayId, list]) => {
        await this.publish(gatewayId, list, payload);
        onPublished?.(list.length);
      }),
    );
    return byGateway.size;
  }
}
