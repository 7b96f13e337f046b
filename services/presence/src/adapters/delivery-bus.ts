// Deliveries to devices through the gateways' existing Redis channels (`<ns:>parley:gw:<gatewayId>`,
// protobuf GatewayDelivery, at-most-once), one publish per gateway (@parley/kit GatewayDeliveries).
import { GatewayDeliveries, type Redis } from '@parley/kit';
import type { Conn } from '../domain/model.js';
import type { DeliveryPayload, DeliveryPort } from '../domain/ports.js';

export type { DeliveryPayload };

export class DeliveryBus implements DeliveryPort {
  private readonly deliveries: GatewayDeliveries;

  constructor(
    redis: Redis,
    ns: string,
    private readonly onPublish?: (kind: string, targets: number) => void,
  ) {
    this.deliveries = new GatewayDeliveries(redis, ns);
  }

  /** Groups the targets by gateway: one PUBLISH each. */
  async send(targets: Conn[], payload: DeliveryPayload): Promise<void> {
    if (!targets.length) return;
    await this.deliveries.toGateways(targets, payload, (n) => this.onPublish?.(payload?.case ?? 'none', n));
  }
}
