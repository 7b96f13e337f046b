// gRPC transport: decodes requests, calls the domain, encodes replies. Errors are ParleyErrors; a store
// that cannot be reached becomes `unavailable` (retryable), never `internal` — done for every service by the
// kit's gRPC server (asParleyError).
import { errors, type ServiceImpl } from '@parley/kit';
import { sessionV1 } from '@parley/proto';
import type { SessionManager, TokenPair } from '../../domain/session-manager.js';
import type { TokenIssuer } from '../../domain/token-issuer.js';
import type { UserRow } from '../../domain/ports.js';

const user = (u: UserRow) => ({ userId: u.userId, username: u.username, displayName: u.displayName });
const tokens = (t: TokenPair) => ({ tokens: t });

export function sessionServiceImpl(
  m: SessionManager,
  issuer: TokenIssuer,
  jwt: { issuer: string; audience: string },
): ServiceImpl<typeof sessionV1.SessionService> {
  return {
    createAccount: async (req) => m.createAccount({ username: req.username, password: req.password, displayName: req.displayName }),
    login: async (req) => tokens(await m.login({ username: req.username, password: req.password, deviceName: req.deviceName })),
    refreshToken: async (req) => tokens(await m.refresh(req.refreshToken)),
    listDevices: async (req) => ({
      devices: (await m.listDevices(req.userId)).map((d) => ({
        deviceId: d.deviceId,
        deviceName: d.deviceName,
        createdAt: BigInt(d.createdAt),
        lastSeenAt: BigInt(d.lastSeenAt),
      })),
    }),
    removeDevice: async (req) => {
      await m.removeDevice(req.userId, req.deviceId);
      return {};
    },
    getUser: async (req) => ({ user: user(await m.getUser(req.userId)) }),
    findUser: async (req) => ({ user: user(await m.findUser(req.username)) }),
    getUsers: async (req) => ({ users: (await m.getUsers(req.userIds)).map(user) }),
    getSigningKeys: async () => ({
      keys: (await issuer.publishedFresh()).map((k) => ({ kid: k.kid, alg: k.alg, publicJwkJson: k.publicJwk, notAfter: BigInt(k.notAfter) })),
      issuer: jwt.issuer,
      audience: jwt.audience,
    }),
    checkDevice: async (req) => ({ active: await m.checkDevice(req.userId, req.deviceId) }),
    registerConnection: async (req) => {
      if (!req.connection) throw errors.badRequest('connection is required', { field: 'connection' });
      await m.registerConnection(req.connection);
      return {};
    },
    registerConnections: async (req) => ({
      results: (await m.registerConnections(req.connections)).map((e) => (e ? { errorCode: e.code, errorMessage: e.message } : {})),
    }),
    unregisterConnection: async (req) => {
      if (!req.connection) throw errors.badRequest('connection is required', { field: 'connection' });
      await m.unregisterConnection(req.connection);
      return {};
    },
    unregisterConnections: async (req) => {
      await m.unregisterConnections(req.connections);
      return {};
    },
    heartbeatConnections: async (req) => {
      await m.heartbeat(req.connections.map((c) => ({ ...c, gatewayId: c.gatewayId || req.gatewayId })));
      return {};
    },
    getDeviceRoutes: async (req) => ({ routes: await m.routes(req.userIds) }),
  };
}
