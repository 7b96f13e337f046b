// Where the fan-out worker's deliveries go: online devices through Redis pub/sub to their gateways (one
// GatewayDelivery, protobuf binary, per gateway on `<ns:>parley:gw:<gatewayId>`, @parley/kit GatewayDeliveries), offline devices to
// push.requests.v1 (ChatEvents.publishPush).
import type { GatewayDeliveries } from '@parley/kit';
import type { commonV1 } from '@parley/proto';
import type { DeliveryTargetPlan } from '../domain/fanout.js';
import type { DeliverySink } from '../domain/fanout-router.js';
import type { ChatEvents } from './chat-events.js';

/** The fan-out router's DeliverySink: gateways by Redis pub/sub, offline devices by push request. */
export class FanoutDelivery implements DeliverySink {
  constructor(
    private readonly gateways: GatewayDeliveries,
    private readonly push: Pick<ChatEvents, 'publishPush'>,
  ) {}

  toGateway(gatewayId: string, targets: DeliveryTargetPlan[], msg: commonV1.Message): Promise<void> {
    return this.gateways.publish(gatewayId, targets, { case: 'message', value: msg });
  }

  toPush(msg: commonV1.Message, devices: Array<{ userId: string; deviceId: string }>): Promise<void> {
    return this.push.publishPush(msg, devices);
  }
}
