// A connection is closed with 4001 when its access token expires; an expired token cannot upgrade.
import { connect, signUp } from '@parley/client';
import { edgeMesh, sleep, upgradeStatus, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await edgeMesh({ SESSION_ACCESS_TOKEN_TTL_SECONDS: '3' });
});
afterAll(async () => {
  await mesh?.stop();
});

it('closes the socket with 4001 when the token expires, and refuses the expired token with 401', async () => {
  const u = await signUp(mesh.gatewayUrls[0]!);
  expect(u.expiresIn).toBe(3);
  const c = await connect(mesh.wsUrls[1]!, u.accessToken);
  await sleep(1000);
  expect(c.isOpen).toBe(true);
  const closed = await Promise.race([c.closed, sleep(6000).then(() => 'still open')]);
  expect(closed).toEqual({ code: 4001, reason: 'token expired' });
  const r = await upgradeStatus(mesh.wsUrls[0]!, u.accessToken);
  expect(r.status).toBe(401);
  expect(JSON.parse(r.body).error.message).toMatch(/expired/);
});
