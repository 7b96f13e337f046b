// Where the fan-out worker's deliveries go: online devices through Redis pub/sub to their gateways (one
// GatewayDelivery, protobuf binary, per gateway on `<ns:>parley:gw:<gatewayId>`), offline devices to
// push.requests.v1 (ChatEvents.publishPush).
import type { Redis } from '@parley/kit';
import { create, toBinary } from '@bufbuild/protobuf';
import { eventsV1, type commonV1 } from '@parley/proto';
import { gatewayChannel } from '@parley/kit';
import type { DeliveryTargetPlan } from '../domain/fanout.js';
import type { DeliverySink } from '../domain/fanout-router.js';
import type { ChatEvents } from './chat-events.js';

export class GatewayDeliveryBus {
  constructor(
    private readonly redis: Redis,
    private readonly namespace: string,
  ) {}

  async publish(gatewayId: string, targets: DeliveryTargetPlan[], message: commonV1.Message): Promise<void> {
    const payload = create(eventsV1.GatewayDeliverySchema, {
      targets: targets.map((t) => create(eventsV1.DeliveryTargetSchema, t)),
      payload: { case: 'message', value: message },
    });
    await this.redis.publish(gatewayChannel(this.namespace, gatewayId), Buffer.from(toBinary(eventsV1.GatewayDeliverySchema, payload)));
  }
}

/** The fan-out router's DeliverySink: gateways by Redis pub/sub, offline devices by push request. */
export class FanoutDelivery implements DeliverySink {
  constructor(
    private readonly gateways: GatewayDeliveryBus,
    private readonly push: Pick<ChatEvents, 'publishPush'>,
  ) {}

  toGateway(gatewayId: string, targets: DeliveryTargetPlan[], msg: commonV1.Message): Promise<void> {
    return this.gateways.publish(gatewayId, targets, msg);
  }

  toPush(msg: commonV1.Message, devices: Array<{ userId: string; deviceId: string }>): Promise<void> {
    return this.push.publishPush(msg, devices);
  }
}
