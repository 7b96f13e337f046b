// protocol.md §2: accounts, sessions (login, refresh), devices, users.
import type { FastifyInstance } from 'fastify';
import type { Static } from '@sinclair/typebox';
import { ParleyError } from '@parley/kit';
import { deviceToJson, tokensToJson, userToJson } from '../../wire/mapping.js';
import { authOf } from '../plugins/decorators.js';
import {
  CreateAccountBody,
  CreateAccountReply,
  DeviceParams,
  DevicesReply,
  LoginBody,
  NoContent,
  RefreshBody,
  responses,
  TokensReply,
  UserParams,
  UserQuery,
  UserReply,
} from '../schemas.js';

export async function accountRoutes(app: FastifyInstance): Promise<void> {
  const { session } = app.gw.upstreams;
  const limits = app.gw.authLimits;
  const hashing = { deadlineMs: app.gw.cfg.authDeadlineMs };

  app.post<{ Body: Static<typeof CreateAccountBody> }>(
    '/v1/accounts',
    { schema: { body: CreateAccountBody, response: responses({ 201: CreateAccountReply }) } },
    async (req, reply) => {
      const { username, password, displayName } = req.body;
      await limits.signUp(req.ip);
      const res = await session.createAccount({ username, password, ...(displayName !== undefined ? { displayName } : {}) }, hashing);
      return reply.status(201).send({ userId: res.userId });
    },
  );

  app.post<{ Body: Static<typeof LoginBody> }>(
    '/v1/sessions',
    { schema: { body: LoginBody, response: responses({ 201: TokensReply }) } },
    async (req, reply) => {
      const { username, password, deviceName } = req.body;
      await limits.login(req.ip, username);
      let res;
      try {
        res = await session.login({ username, password, ...(deviceName !== undefined ? { deviceName } : {}) }, hashing);
      } catch (err) {
        if (err instanceof ParleyError && err.code === 'unauthorized') await limits.loginFailed(username);
        throw err;
      }
      await limits.loginSucceeded(username);
      return reply.status(201).send(tokensToJson(res.tokens));
    },
  );

  app.post<{ Body: Static<typeof RefreshBody> }>(
    '/v1/sessions/refresh',
    { schema: { body: RefreshBody, response: responses({ 200: TokensReply }) } },
    async (req) => {
      await limits.refresh(req.ip);
      return tokensToJson((await session.refreshToken({ refreshToken: req.body.refreshToken })).tokens);
    },
  );

  app.get('/v1/devices', { onRequest: app.authenticate, schema: { response: responses({ 200: DevicesReply }) } }, async (req) => {
    const res = await session.listDevices({ userId: authOf(req).userId });
    return { devices: res.devices.map(deviceToJson) };
  });

  app.delete<{ Params: Static<typeof DeviceParams> }>(
    '/v1/devices/:deviceId',
    { onRequest: app.authenticate, schema: { params: DeviceParams, response: responses({ 204: NoContent }) } },
    async (req, reply) => {
      const { userId } = authOf(req);
      await session.removeDevice({ userId, deviceId: req.params.deviceId });
      // Session tells the gateway holding the device's connection; close any this gateway holds too.
      app.gw.connections.closeDevice(userId, req.params.deviceId, 'device removed');
      return reply.status(204).send();
    },
  );

  app.get<{ Params: Static<typeof UserParams> }>(
    '/v1/users/:userId',
    { onRequest: app.authenticate, schema: { params: UserParams, response: responses({ 200: UserReply }) } },
    async (req) => userToJson((await session.getUser({ userId: req.params.userId })).user),
  );

  app.get<{ Querystring: Static<typeof UserQuery> }>(
    '/v1/users',
    { onRequest: app.authenticate, schema: { querystring: UserQuery, response: responses({ 200: UserReply }) } },
    async (req) => userToJson((await session.findUser({ username: req.query.username })).user),
  );
}
