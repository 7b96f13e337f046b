// protocol.md §2 and §6 through the gateway's HTTP routes, on both gateway instances.
import { ParleyHttp, randomUsername, signUp } from '@parley/client';
import { edgeMesh, expectNoLeak, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await edgeMesh();
});
afterAll(async () => {
  await mesh?.stop();
});

const gw = (i: number) => new ParleyHttp(mesh.gatewayUrls[i]!);

describe('accounts and sessions', () => {
  it('creates an account (201), refuses a taken username (409 username_taken)', async () => {
    const username = randomUsername();
    const r1 = await gw(0).raw('POST', '/v1/accounts', { username, password: 'password123', displayName: 'Ann' });
    expect(r1.status).toBe(201);
    expect(typeof (r1.body as { userId: string }).userId).toBe('string');
    const r2 = await gw(1).raw('POST', '/v1/accounts', { username, password: 'another-password' });
    expect(r2.status).toBe(409);
    expect(r2.body).toEqual({ error: { code: 'username_taken', message: expect.any(String) } });
  });

  it('validates account input and names the field', async () => {
    const cases: [unknown, string][] = [
      [{ username: 'AB', password: 'password123' }, 'username'],
      [{ username: 'has space', password: 'password123' }, 'username'],
      [{ password: 'password123' }, 'username'],
      [{ username: randomUsername(), password: 'short' }, 'password'],
      [{ username: randomUsername() }, 'password'],
      [{ username: randomUsername(), password: 12345678 }, 'password'],
    ];
    for (const [body, field] of cases) {
      const r = await gw(0).raw<{ error: { code: string; message: string } }>('POST', '/v1/accounts', body);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('bad_request');
      expect(r.body.error.message).toContain(field);
    }
    const bad = await gw(0).raw('POST', '/v1/accounts', '{"username":');
    expect(bad.status).toBe(400);
    expect((bad.body as { error: { code: string } }).error.code).toBe('bad_request');
  });

  it('logs in as a new device each time, refuses a wrong password with 401', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const second = await gw(1).login({ username: u.username, password: u.password, deviceName: 'laptop' });
    expect(second.userId).toBe(u.userId);
    expect(second.deviceId).not.toBe(u.deviceId);
    expect(second.expiresIn).toBeGreaterThan(0);
    const wrong = await gw(0).raw('POST', '/v1/sessions', { username: u.username, password: 'wrong-password' });
    expect(wrong.status).toBe(401);
    expect((wrong.body as { error: { code: string } }).error.code).toBe('unauthorized');
  });

  it('rotates refresh tokens; a reused refresh token is refused and signs the device out', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const r1 = await gw(1).raw<{ deviceId: string; accessToken: string; refreshToken: string }>('POST', '/v1/sessions/refresh', { refreshToken: u.refreshToken });
    expect(r1.status).toBe(200);
    expect(r1.body.deviceId).toBe(u.deviceId);
    expect(r1.body.refreshToken).not.toBe(u.refreshToken);
    // The new access token works.
    expect((await gw(0).raw('GET', '/v1/devices', undefined, { token: r1.body.accessToken })).status).toBe(200);
    // Reuse of the old refresh token: 401, and the whole device is signed out.
    const reuse = await gw(0).raw('POST', '/v1/sessions/refresh', { refreshToken: u.refreshToken });
    expect(reuse.status).toBe(401);
    expect((reuse.body as { error: { code: string } }).error.code).toBe('unauthorized');
    expect((await gw(0).raw('GET', '/v1/devices', undefined, { token: r1.body.accessToken })).status).toBe(401);
    expect((await gw(1).raw('POST', '/v1/sessions/refresh', { refreshToken: r1.body.refreshToken })).status).toBe(401);
  });

  it('refuses a missing refresh token with bad_request naming it', async () => {
    const r = await gw(0).raw<{ error: { code: string; message: string } }>('POST', '/v1/sessions/refresh', {});
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('refreshToken');
  });
});

describe('devices and users', () => {
  it('lists devices and removes one (204); its tokens stop working', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const other = await gw(0).login({ username: u.username, password: u.password, deviceName: 'phone' });
    const http = new ParleyHttp(mesh.gatewayUrls[1]!, u.accessToken);
    const { devices } = await http.listDevices();
    expect(devices.map((d) => d.deviceId).sort()).toEqual([u.deviceId, other.deviceId].sort());
    for (const d of devices) {
      expect(d.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(d.lastSeenAt).toMatch(/Z$/);
    }
    expect(devices.find((d) => d.deviceId === other.deviceId)?.deviceName).toBe('phone');
    const del = await http.raw('DELETE', `/v1/devices/${other.deviceId}`);
    expect(del.status).toBe(204);
    expect((await gw(0).raw('GET', '/v1/devices', undefined, { token: other.accessToken })).status).toBe(401);
    expect((await http.listDevices()).devices.map((d) => d.deviceId)).toEqual([u.deviceId]);
  });

  it('cannot remove or list another user’s devices', async () => {
    const a = await signUp(mesh.gatewayUrls[0]!);
    const b = await signUp(mesh.gatewayUrls[0]!);
    const asA = new ParleyHttp(mesh.gatewayUrls[0]!, a.accessToken);
    const r = await asA.raw('DELETE', `/v1/devices/${b.deviceId}`);
    expect(r.status).toBe(404);
    const asB = new ParleyHttp(mesh.gatewayUrls[1]!, b.accessToken);
    expect((await asB.listDevices()).devices.map((d) => d.deviceId)).toEqual([b.deviceId]);
    expect((await asA.listDevices()).devices.map((d) => d.deviceId)).toEqual([a.deviceId]);
  });

  it('gets users by id and by username; 404 when none', async () => {
    const a = await signUp(mesh.gatewayUrls[0]!, { displayName: 'Alice A' });
    const b = await signUp(mesh.gatewayUrls[0]!);
    const asB = new ParleyHttp(mesh.gatewayUrls[1]!, b.accessToken);
    expect(await asB.getUser(a.userId)).toEqual({ userId: a.userId, username: a.username, displayName: 'Alice A' });
    expect(await asB.findUser(a.username)).toEqual({ userId: a.userId, username: a.username, displayName: 'Alice A' });
    const none = await asB.raw('GET', `/v1/users?username=${randomUsername('nobody')}`);
    expect(none.status).toBe(404);
    expect((none.body as { error: { code: string } }).error.code).toBe('not_found');
    const missing = await asB.raw('GET', '/v1/users/u_doesnotexist');
    expect(missing.status).toBe(404);
    const noQuery = await asB.raw<{ error: { code: string; message: string } }>('GET', '/v1/users');
    expect(noQuery.status).toBe(400);
    expect(noQuery.body.error.message).toContain('username');
  });

  it('needs a bearer token on every authenticated route', async () => {
    for (const [method, path] of [
      ['GET', '/v1/devices'],
      ['DELETE', '/v1/devices/x'],
      ['GET', '/v1/users/x'],
      ['GET', '/v1/users?username=abc'],
      ['POST', '/v1/media'],
      ['GET', '/v1/media/x'],
    ] as const) {
      const r = await gw(0).raw(method, path, method === 'POST' ? {} : undefined);
      expect([method, path, r.status]).toEqual([method, path, 401]);
      expect((r.body as { error: { code: string } }).error.code).toBe('unauthorized');
      const garbage = await gw(1).raw(method, path, method === 'POST' ? {} : undefined, { token: 'not.a.jwt' });
      expect(garbage.status).toBe(401);
    }
  });
});

describe('errors', () => {
  it('media routes answer unavailable while the media service is not running (no fake success)', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const http = new ParleyHttp(mesh.gatewayUrls[0]!, u.accessToken);
    const r = await http.raw('POST', '/v1/media', { contentType: 'image/png', size: 10, sha256: 'a'.repeat(64) });
    expect(r.status).toBe(503);
    expect((r.body as { error: { code: string } }).error.code).toBe('unavailable');
    const tooBig = await http.raw('POST', '/v1/media', { contentType: 'image/png', size: 100 * 1024 * 1024 + 1, sha256: 'a'.repeat(64) });
    expect(tooBig.status).toBe(413);
    expect((tooBig.body as { error: { code: string } }).error.code).toBe('too_large');
    const badHash = await http.raw<{ error: { message: string } }>('POST', '/v1/media', { contentType: 'image/png', size: 10, sha256: 'xyz' });
    expect(badHash.status).toBe(400);
    expect(badHash.body.error.message).toContain('sha256');
  });

  it('unknown routes are JSON 404s and no error leaks a stack', async () => {
    const r = await gw(0).raw('GET', '/v1/nope');
    expect(r.status).toBe(404);
    expect((r.body as { error: { code: string } }).error.code).toBe('not_found');
    const bodies = [
      r,
      await gw(0).raw('POST', '/v1/accounts', '{{{'),
      await gw(0).raw('POST', '/v1/sessions', { username: 'x'.repeat(1000), password: 'y' }),
      await gw(0).raw('POST', '/v1/sessions/refresh', { refreshToken: 'x'.repeat(100) }),
      await gw(0).raw('GET', '/v1/devices', undefined, { token: 'eyJhbGciOiJFUzI1NiIsImtpZCI6Ingif.e30.xx' }),
    ];
    for (const b of bodies) expectNoLeak(JSON.stringify(b.body));
  });

  it('serves /healthz, /readyz and /metrics on the same port', async () => {
    expect((await gw(0).raw('GET', '/healthz')).status).toBe(200);
    expect((await gw(1).raw('GET', '/readyz')).status).toBe(200);
    const m = await fetch(`${mesh.gatewayUrls[0]}/metrics`);
    const text = await m.text();
    expect(text).toContain('parley_gateway_connections');
    expect(text).toContain('parley_gateway_handshake_seconds');
  });
});
