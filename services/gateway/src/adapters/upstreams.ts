// The gRPC clients of the services behind the gateway, one per service, built once from config.
import { createClient, type Client } from '@parley/kit';
import { groupV1, mediaV1, messageV1, presenceV1, pushV1, sessionV1 } from '@parley/proto';
import type { GatewayConfig } from '../config.js';
import { batchingMessageClient } from './batching-message-client.js';

export interface Upstreams {
  session: Client<typeof sessionV1.SessionService>;
  group: Client<typeof groupV1.GroupService>;
  message: Client<typeof messageV1.MessageService>;
  presence: Client<typeof presenceV1.PresenceService>;
  media: Client<typeof mediaV1.MediaService>;
  push: Client<typeof pushV1.PushService>;
}

export function createUpstreams(cfg: GatewayConfig): Upstreams {
  const o = { deadlineMs: cfg.upstreamDeadlineMs };
  return {
    session: createClient(sessionV1.SessionService, cfg.addrs.session, o),
    group: createClient(groupV1.GroupService, cfg.addrs.group, o),
    // Sends and acks of all connections batched (adapters/batching-message-client.ts).
    message: batchingMessageClient(createClient(messageV1.MessageService, cfg.addrs.message, o), { deadlineMs: cfg.upstreamDeadlineMs }),
    presence: createClient(presenceV1.PresenceService, cfg.addrs.presence, o),
    media: createClient(mediaV1.MediaService, cfg.addrs.media, o),
    push: createClient(pushV1.PushService, cfg.addrs.push, o),
  };
}
