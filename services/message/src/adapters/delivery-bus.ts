// Redis pub/sub to gateways: one GatewayDelivery (protobuf binary) per gateway on `<ns:>parley:gw:<gatewayId>`.
import type { Redis } from '@parley/kit';
import { create, toBinary } from '@bufbuild/protobuf';
import { eventsV1, type commonV1 } from '@parley/proto';
import { gatewayChannel } from '@parley/kit';
import type { DeliveryTargetPlan } from '../domain/fanout.js';

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
