// protocol.md §1 (authentication on upgrade), §2 (device removal → 4001), §5 (session.ready first).
import { ParleyHttp, connect, signUp } from '@parley/client';
import net from 'node:net';
import WebSocket from 'ws';
import { b64urlDecode, b64urlEncode, edgeMesh, expectNoLeak, upgradeStatus, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await edgeMesh();
});
afterAll(async () => {
  await mesh?.stop();
});

describe('upgrade authentication', () => {
  it('refuses a missing token with 401 and no upgrade', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(mesh.wsUrls[0]!);
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => reject(new Error('upgraded without a token')));
      ws.on('error', () => {});
    });
    expect(status).toBe(401);
  });

  it('refuses malformed, re-signed, tampered and unknown-kid tokens with 401', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const [h, p, s] = u.accessToken.split('.') as [string, string, string];
    const payload = JSON.parse(b64urlDecode(p)) as Record<string, unknown>;
    const header = JSON.parse(b64urlDecode(h)) as Record<string, unknown>;
    const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
    const tokens = {
      garbage: 'garbage',
      badSignature: `${h}.${p}.${flipped}`,
      tampered: `${h}.${b64urlEncode(JSON.stringify({ ...payload, sub: 'u_someone_else' }))}.${s}`,
      unknownKid: `${b64urlEncode(JSON.stringify({ ...header, kid: 'no-such-kid' }))}.${p}.${s}`,
      none: `${b64urlEncode(JSON.stringify({ alg: 'none', typ: 'JWT', kid: header['kid'] }))}.${p}.`,
    };
    for (const [name, token] of Object.entries(tokens)) {
      for (const i of [0, 1]) {
        const r = await upgradeStatus(mesh.wsUrls[i]!, token);
        expect([name, r.status]).toEqual([name, 401]);
        expect(JSON.parse(r.body)).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
        expectNoLeak(r.body);
      }
    }
    // The genuine token still works, via the header and via the query parameter.
    const c1 = await connect(mesh.wsUrls[0]!, u.accessToken);
    const c2 = await connect(mesh.wsUrls[1]!, u.accessToken, { tokenIn: 'query' });
    expect(c2.ready.userId).toBe(u.userId);
    await c1.close();
    await c2.close();
  });

  it('refuses the token of a removed device with 401', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    await new ParleyHttp(mesh.gatewayUrls[0]!, u.accessToken).removeDevice(u.deviceId);
    expect((await upgradeStatus(mesh.wsUrls[1]!, u.accessToken)).status).toBe(401);
    expect((await upgradeStatus(mesh.wsUrls[0]!, u.accessToken, 'query')).status).toBe(401);
  });

  it('sends session.ready first, with the ids of the token', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const first = await new Promise<unknown>((resolve, reject) => {
      const ws = new WebSocket(mesh.wsUrls[1]!, { headers: { authorization: `Bearer ${u.accessToken}` } });
      ws.once('message', (m) => {
        resolve(JSON.parse(m.toString()));
        ws.close();
      });
      ws.on('error', reject);
    });
    expect(first).toEqual({
      event: 'session.ready',
      data: { userId: u.userId, deviceId: u.deviceId, heartbeatIntervalMs: 15000, serverTime: expect.stringMatching(/^\d{4}-.*\.\d{3}Z$/) },
    });
  });
});

describe('revocation closes live sockets', () => {
  it('device removal through gateway-0 closes the device’s socket on gateway-1 with 4001', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const phone = await new ParleyHttp(mesh.gatewayUrls[0]!).login({ username: u.username, password: u.password });
    const c = await connect(mesh.wsUrls[1]!, phone.accessToken);
    const keep = await connect(mesh.wsUrls[1]!, u.accessToken);
    await new ParleyHttp(mesh.gatewayUrls[0]!, u.accessToken).removeDevice(phone.deviceId);
    const closed = await Promise.race([c.closed, new Promise((r) => setTimeout(() => r('still open'), 5000))]);
    expect(closed).toEqual({ code: 4001, reason: expect.any(String) });
    // The other device is untouched.
    expect(keep.isOpen).toBe(true);
    await keep.request('ping', {});
    await keep.close();
  });

  it('device removal closes every socket of the device, on both gateways, with 4001', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const phone = await new ParleyHttp(mesh.gatewayUrls[0]!).login({ username: u.username, password: u.password });
    // The same device on both gateways: the registry holds only the newer connection.
    const older = await connect(mesh.wsUrls[0]!, phone.accessToken);
    const newer = await connect(mesh.wsUrls[1]!, phone.accessToken);
    await new ParleyHttp(mesh.gatewayUrls[1]!, u.accessToken).removeDevice(phone.deviceId);
    const timeout = new Promise((r) => setTimeout(() => r('still open'), 5000));
    expect(await Promise.race([older.closed, timeout])).toEqual({ code: 4001, reason: expect.any(String) });
    expect(await Promise.race([newer.closed, timeout])).toEqual({ code: 4001, reason: expect.any(String) });
  });

  it('refresh-token reuse closes the device’s live socket with 4001', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const c = await connect(mesh.wsUrls[1]!, u.accessToken);
    const http = new ParleyHttp(mesh.gatewayUrls[0]!);
    await http.refresh(u.refreshToken);
    await expect(http.refresh(u.refreshToken)).rejects.toMatchObject({ status: 401 });
    const closed = await Promise.race([c.closed, new Promise((r) => setTimeout(() => r('still open'), 5000))]);
    expect(closed).toEqual({ code: 4001, reason: expect.any(String) });
  });
});

describe('registration before the 101', () => {
  // The connection is registered with session (which checks the device) before the upgrade completes; an
  // upgrade that never becomes a socket must not leave its registration behind.
  it('unregisters an upgrade whose WebSocket handshake fails after it was registered', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const metric = async (re: RegExp) => Number(re.exec(await (await fetch(`${mesh.gatewayUrls[0]}/metrics`)).text())?.[1] ?? 0);
    const abandoned = () => metric(/^parley_gateway_closes_total\{code="abandoned"[^}]*\} (\d+)/m);
    const before = await abandoned();
    const { hostname, port } = new URL(mesh.wsUrls[0]!);
    // A valid token and a Sec-WebSocket-Version the ws library refuses (400 after the route's preValidation).
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(Number(port), hostname, () =>
        sock.write(
          'GET /v1/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
            `Sec-WebSocket-Version: 99\r\nAuthorization: Bearer ${u.accessToken}\r\n\r\n`,
        ),
      );
      let got = '';
      sock.on('data', (d) => (got += String(d)));
      sock.on('close', () => resolve(got));
      sock.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 4\d\d/);
    for (let i = 0; i < 50 && (await abandoned()) === before; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await abandoned()).toBe(before + 1);
    // The device connects normally afterwards.
    const c = await connect(mesh.wsUrls[0]!, u.accessToken);
    await c.request('ping', {});
    await c.close();
  });

  it('registers nothing for a plain request that only claims to upgrade (no Connection: upgrade)', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const text = async () => (await fetch(`${mesh.gatewayUrls[0]}/metrics`)).text();
    const handshaking = async () => Number(/^parley_gateway_handshaking(?:\{[^}]*\})? (\d+)/m.exec(await text())?.[1] ?? 0);
    const { hostname, port } = new URL(mesh.wsUrls[0]!);
    // Five such requests on one keep-alive socket: none is an upgrade, so none may hold a registration.
    const sock = net.connect(Number(port), hostname);
    await new Promise((r) => sock.once('connect', r));
    let got = '';
    sock.on('data', (d) => (got += String(d)));
    for (let i = 0; i < 5; i++) {
      sock.write(`GET /v1/ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nUpgrade: websocket\r\nAuthorization: Bearer ${u.accessToken}\r\n\r\n`);
    }
    for (let i = 0; i < 50 && (got.match(/^HTTP\/1\.1 /gm) ?? []).length < 5; i++) await new Promise((r) => setTimeout(r, 100));
    expect((got.match(/^HTTP\/1\.1 4\d\d/gm) ?? []).length).toBe(5);
    await new Promise((r) => setTimeout(r, 1500)); // the gauge is set as upgrades come and go
    expect(await handshaking()).toBe(0);
    sock.destroy();
  });
});

describe('a WebSocket protocol violation', () => {
  // The gateway drops the upgrade's own error listener (routes/websocket.ts releaseUpgrade) so an idle socket
  // does not keep its HTTP request alive; the connection's listener must take over: a bad frame closes that
  // socket with 1002 and nothing else.
  it('closes that socket with 1002; the gateway keeps serving and forgets the connection', async () => {
    const u = await signUp(mesh.gatewayUrls[0]!);
    const gauge = async () => Number(/^parley_gateway_connections (\d+)/m.exec(await (await fetch(`${mesh.gatewayUrls[0]}/metrics`)).text())?.[1]);
    const before = await gauge();
    const ws = new WebSocket(mesh.wsUrls[0]!, { headers: { authorization: `Bearer ${u.accessToken}` } });
    const ready = new Promise<void>((resolve) => ws.on('message', (d) => JSON.parse(String(d)).event === 'session.ready' && resolve()));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => {});
    await ready;
    expect(await gauge()).toBe(before + 1);
    // A final frame with the reserved opcode 0x3, masked (zero key), empty: invalid on every server.
    (ws as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.from([0x83, 0x80, 0, 0, 0, 0]));
    expect(await closed).toBe(1002);
    for (let i = 0; i < 50 && (await gauge()) !== before; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await gauge()).toBe(before);
    const c = await connect(mesh.wsUrls[0]!, u.accessToken);
    await c.request('ping', {});
    await c.close();
  });
});
