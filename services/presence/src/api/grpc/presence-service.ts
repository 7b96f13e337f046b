// PresenceService over gRPC: thin mapping onto the managers. The gateway passes the caller's ids from the
// token; presence never trusts ids from a client frame.
import { errors, type ServiceImpl } from '@parley/kit';
import { presenceV1 } from '@parley/proto';
import type { Conn, LastSeenVisibility, UserSettings } from '../../domain/model.js';
import type { PresenceManager } from '../../domain/presence.js';
import type { SettingsCache } from '../../domain/settings.js';
import type { TypingRelay } from '../../domain/typing.js';

const V = presenceV1.LastSeenVisibility;
const TO_NAME: Record<number, LastSeenVisibility> = { [V.EVERYONE]: 'everyone', [V.CONTACTS]: 'contacts', [V.NOBODY]: 'nobody' };
const TO_PROTO: Record<LastSeenVisibility, presenceV1.LastSeenVisibility> = { everyone: V.EVERYONE, contacts: V.CONTACTS, nobody: V.NOBODY };
const MAX_TTL_MS = 10 * 60_000;

function settingsToProto(s: UserSettings) {
  return { lastSeen: TO_PROTO[s.lastSeen], readReceipts: s.readReceipts };
}

function conn(c: presenceV1.LiveConnection | undefined): Conn {
  if (!c || !c.userId || !c.deviceId || !c.gatewayId || !c.connectionId) throw errors.badRequest('connection: userId, deviceId, gatewayId and connectionId are required');
  return { userId: c.userId, deviceId: c.deviceId, gatewayId: c.gatewayId, connectionId: c.connectionId };
}

/** Connections per batched call (opened, closed, heartbeat). */
const MAX_BATCH_CONNECTIONS = 5000;

function atMostConnections(n: number, per = 'call'): void {
  if (n > MAX_BATCH_CONNECTIONS) throw errors.badRequest(`at most ${MAX_BATCH_CONNECTIONS} connections per ${per}`);
}

function ttl(ms: bigint): number {
  const n = Number(ms);
  if (!Number.isFinite(n) || n < 100 || n > MAX_TTL_MS) throw errors.badRequest(`ttlMs must be 100–${MAX_TTL_MS}`);
  return n;
}

export function presenceServiceImpl(d: { presence: PresenceManager; typing: TypingRelay; settings: SettingsCache }): ServiceImpl<typeof presenceV1.PresenceService> {
  return {
    async subscribePresence(req) {
      if (!req.userId) throw errors.badRequest('userId is required');
      const states = await d.presence.subscribe(
        { connectionId: req.connectionId, userId: req.userId, deviceId: req.deviceId, gatewayId: req.gatewayId },
        req.userIds,
      );
      return { presence: states.map((s) => ({ userId: s.userId, online: s.online, lastSeen: BigInt(s.lastSeen) })) };
    },
    async unsubscribePresence(req) {
      await d.presence.unsubscribe(req.connectionId, req.userIds);
      return {};
    },
    async setTyping(req) {
      if (!req.userId) throw errors.badRequest('userId is required');
      await d.typing.set(req.userId, req.chatId, req.typing);
      return {};
    },
    async updateSettings(req) {
      if (!req.userId) throw errors.badRequest('userId is required');
      const patch: Partial<UserSettings> = {};
      if (req.lastSeen !== undefined) {
        const name = TO_NAME[req.lastSeen];
        if (!name) throw errors.badRequest('lastSeen must be everyone, contacts or nobody');
        patch.lastSeen = name;
      }
      if (req.readReceipts !== undefined) patch.readReceipts = req.readReceipts;
      return { settings: settingsToProto(await d.settings.update(req.userId, patch)) };
    },
    async getSettings(req) {
      if (req.userIds.length > 500) throw errors.badRequest('userIds: at most 500');
      const all = await d.settings.getMany(req.userIds.filter((u) => u));
      return { settings: Object.fromEntries([...all].map(([u, s]) => [u, settingsToProto(s)])) };
    },
    async connectionOpened(req) {
      await d.presence.opened(conn(req.connection), ttl(req.ttlMs));
      return {};
    },
    async connectionsOpened(req) {
      atMostConnections(req.connections.length);
      const t = ttl(req.ttlMs);
      // Validated first: one malformed entry refuses the call before anything started.
      const conns = req.connections.map(conn);
      await Promise.all(conns.map((c) => d.presence.opened(c, t)));
      return {};
    },
    async connectionClosed(req) {
      await d.presence.closed(conn(req.connection), req.clean);
      return {};
    },
    async connectionsClosed(req) {
      atMostConnections(req.connections.length);
      const closed = req.connections.map((c) => ({ c: conn(c.connection), clean: c.clean }));
      await Promise.all(closed.map((x) => d.presence.closed(x.c, x.clean)));
      return {};
    },
    async heartbeatConnections(req) {
      atMostConnections(req.connections.length, 'heartbeat');
      await d.presence.heartbeat(req.connections.map(conn), ttl(req.ttlMs));
      return {};
    },
  };
}
