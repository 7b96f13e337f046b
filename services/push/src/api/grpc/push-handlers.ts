// PushService gRPC handlers: RegisterPush, UnregisterPush, GetVapidPublicKey (protocol.md push.*).
import { errors, type ServiceImpl } from '@parley/kit';
import { pushV1 } from '@parley/proto';
import type { AddressPolicy } from '../../domain/address-policy.js';
import { normalizeToken } from '../../domain/tokens.js';
import type { PlatformName } from '../../domain/types.js';
import type { RegistrationStore } from '../../adapters/registrations.js';

export function platformName(p: pushV1.Platform): PlatformName {
  switch (p) {
    case pushV1.Platform.FCM:
      return 'fcm';
    case pushV1.Platform.APNS:
      return 'apns';
    case pushV1.Platform.WEBPUSH:
      return 'webpush';
    case pushV1.Platform.WEBHOOK:
      return 'webhook';
    default:
      throw errors.badRequest('platform: must be one of fcm, apns, webpush, webhook');
  }
}

export function pushHandlers(deps: {
  store: RegistrationStore;
  policy: AddressPolicy;
  vapidPublicKey: string | undefined;
}): ServiceImpl<typeof pushV1.PushService> {
  return {
    async registerPush(req) {
      if (!req.userId || !req.deviceId) throw errors.badRequest('userId and deviceId are required');
      const platform = platformName(req.platform);
      const token = normalizeToken(platform, req.token, deps.policy);
      await deps.store.register({ userId: req.userId, deviceId: req.deviceId, platform, token, updatedAt: Date.now() });
      return {};
    },
    async unregisterPush(req) {
      if (!req.userId || !req.deviceId) throw errors.badRequest('userId and deviceId are required');
      await deps.store.unregister(req.userId, req.deviceId);
      return {};
    },
    async getVapidPublicKey() {
      return { publicKey: deps.vapidPublicKey ?? '' };
    },
  };
}
