// Deliveries to devices through the gateways' existing Redis channels (`<ns:>parley:gw:<gatewayId>`,
// protobuf GatewayDelivery, at-most-once), one publish per gateway.
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { gatewayChannel, type Redis } from '@parley/kit';
import { eventsV1 } from '@parley/proto';
import type { Conn } from '../domain/model.js';

export type DeliveryPayload = MessageInitShape<typeof eventsV1.GatewayDeliverySchema>['payload'];

export class DeliveryBus {
  constructor(
    private readonly redis: Redis,
    private readonly ns: string,
    private readonly onPublish?: (kind: string, targets: number) => void,
  ) {}

  /** Groups the targets by gateway: one PUBLISH each. */
  async send(targets: Conn[], payload: DeliveryPayload): Promise<void> {
    if (!targets.length) return;
    const byGw = new Map<string, Conn[]>();
    for (const t of targets) {
      let l = byGw.get(t.gatewayId);
      if (!l) byGw.set(t.gatewayId, (l = []));
      l.push(t);
    }
    await Promise.all(
      [...byGw].map(async ([gw, list]) => {
        const d = create(eventsV1.GatewayDeliverySchema, {
          targets: list.map((t) => ({ userId: t.userId, deviceId: t.deviceId, connectionId: t.connectionId })),
          payload,
        });
        await this.redis.publish(gatewayChannel(this.ns, gw), Buffer.from(toBinary(eventsV1.GatewayDeliverySchema, d)));
        this.onPublish?.(payload?.case ?? 'none', list.length);
      }),
    );
  }
}
