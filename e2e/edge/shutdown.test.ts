// SIGTERM: the gateway closes every WebSocket with 1012 and exits; the other gateway keeps serving.
import { connect, signUp } from '@parley/client';
import { edgeMesh, sleep, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await edgeMesh();
});
afterAll(async () => {
  await mesh?.stop();
});

it('closes every socket with 1012 on SIGTERM; clients reconnect to the other gateway', async () => {
  const users = await Promise.all([0, 1, 2].map(() => signUp(mesh.gatewayUrls[0]!)));
  const conns = await Promise.all(users.map((u) => connect(mesh.wsUrls[1]!, u.accessToken)));
  const closes = Promise.all(conns.map((c) => Promise.race([c.closed, sleep(10_000).then(() => 'still open')])));
  await mesh.kill('gateway-1', 'SIGTERM');
  expect((await closes).map((c) => (typeof c === 'string' ? c : c.code))).toEqual([1012, 1012, 1012]);
  expect(mesh.pid('gateway-1') === undefined || (await fetch(`${mesh.gatewayUrls[1]}/readyz`).then((r) => r.status, () => 'down'))).toBeTruthy();
  const again = await connect(mesh.wsUrls[0]!, users[0]!.accessToken);
  expect(again.ready.userId).toBe(users[0]!.userId);
  await again.close();
});
