// Issue 15: the unauthenticated auth routes are rate limited per source address and per username,
// cluster-wide (both gateways share one budget through Redis), answer `rate_limited` with retryAfterMs,
// and failed logins lock the username out with exponential backoff. The source address comes from
// X-Forwarded-For here only because this mesh trusts one proxy hop (GATEWAY_TRUSTED_PROXIES=127.0.0.1): each
// case uses its own address, so the cases do not share budgets.
import { ParleyHttp, randomUsername } from '@parley/client';
import WebSocket from 'ws';
import { edgeMesh, sleep, type Mesh } from './helpers.js';

let mesh: Mesh;
beforeAll(async () => {
  mesh = await edgeMesh({
    GATEWAY_TRUSTED_PROXIES: '127.0.0.1',
    GATEWAY_AUTH_RATE_SIGNUP_IP_PER_MINUTE: '6',
    GATEWAY_AUTH_RATE_SIGNUP_IP_BURST: '4',
    GATEWAY_AUTH_RATE_LOGIN_IP_PER_MINUTE: '600',
    GATEWAY_AUTH_RATE_LOGIN_IP_BURST: '100',
    GATEWAY_AUTH_RATE_LOGIN_USER_PER_MINUTE: '600',
    GATEWAY_AUTH_RATE_LOGIN_USER_BURST: '100',
    GATEWAY_AUTH_RATE_REFRESH_IP_PER_MINUTE: '6',
    GATEWAY_AUTH_RATE_REFRESH_IP_BURST: '3',
    GATEWAY_LOGIN_LOCKOUT_THRESHOLD: '3',
    GATEWAY_LOGIN_LOCKOUT_BASE_MS: '2000',
    GATEWAY_LOGIN_LOCKOUT_MAX_MS: '60000',
  });
});
afterAll(async () => {
  await mesh?.stop();
});

const gw = (i: number) => new ParleyHttp(mesh.gatewayUrls[i]!);
let ipSeq = 1;
const newIp = () => `203.0.113.${ipSeq++}`;
type Err = { error: { code: string; message: string; retryAfterMs?: number } };
const PASSWORD = 'correct horse battery';

function post(i: number, path: string, body: unknown, ip: string) {
  return gw(i).raw<Err & Record<string, unknown>>('POST', path, body, { headers: { 'x-forwarded-for': ip } });
}

it('sign-ups from one address share one budget across both gateways; beyond it rate_limited with retryAfterMs', async () => {
  const ip = newIp();
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await post(i % 2, '/v1/accounts', { username: randomUsername(), password: PASSWORD }, ip)).status);
  expect(statuses).toEqual([201, 201, 201, 201]);
  for (const g of [0, 1]) {
    const r = await post(g, '/v1/accounts', { username: randomUsername(), password: PASSWORD }, ip);
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('rate_limited');
    expect(r.body.error.retryAfterMs).toBeGreaterThan(0);
    expect(r.body.error.retryAfterMs).toBeLessThanOrEqual(10_000);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  }
  // Another address has its own budget.
  expect((await post(1, '/v1/accounts', { username: randomUsername(), password: PASSWORD }, newIp())).status).toBe(201);
});

it('failed logins lock the username out on every gateway, with a doubling window; a success clears it', async () => {
  const ip = newIp();
  const username = randomUsername();
  expect((await post(0, '/v1/accounts', { username, password: PASSWORD }, ip)).status).toBe(201);
  for (let i = 0; i < 3; i++) {
    const r = await post(i % 2, '/v1/sessions', { username, password: 'wrong password!' }, newIp());
    expect(r.status).toBe(401);
  }
  // Locked: even the right password from another address, on the other gateway, is refused without a hash.
  const locked = await post(1, '/v1/sessions', { username, password: PASSWORD }, newIp());
  expect(locked.status).toBe(429);
  expect(locked.body.error.code).toBe('rate_limited');
  const first = locked.body.error.retryAfterMs!;
  expect(first).toBeGreaterThan(1000);
  expect(first).toBeLessThanOrEqual(2000);
  await sleep(first + 100);
  // One more failure after the window: the next lock is twice as long.
  expect((await post(0, '/v1/sessions', { username, password: 'wrong again!!' }, ip)).status).toBe(401);
  const second = await post(0, '/v1/sessions', { username, password: PASSWORD }, ip);
  expect(second.status).toBe(429);
  expect(second.body.error.retryAfterMs!).toBeGreaterThan(3000);
  expect(second.body.error.retryAfterMs!).toBeLessThanOrEqual(4000);
  await sleep(second.body.error.retryAfterMs! + 100);
  const ok = await post(1, '/v1/sessions', { username, password: PASSWORD }, ip);
  expect(ok.status).toBe(201);
  // The success cleared the failures: a single failure does not lock again.
  expect((await post(0, '/v1/sessions', { username, password: 'wrong password!' }, ip)).status).toBe(401);
  expect((await post(1, '/v1/sessions', { username, password: PASSWORD }, ip)).status).toBe(201);
}, 60_000);

it('refreshes from one address share one budget across both gateways', async () => {
  const ip = newIp();
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await post(i % 2, '/v1/sessions/refresh', { refreshToken: `not-a-real-refresh-token-${i}-xxxxxxxx` }, ip)).status);
  expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
  expect(statuses.slice(3)).toEqual([429, 429]);
});

it('the diagnostics WebSocket echo route is off by default (404)', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`${mesh.wsUrls[0]!.replace('/v1/ws', '')}/v1/diag/echo`);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => reject(new Error('the echo route is served without GATEWAY_DIAG_WS_ECHO')));
    ws.on('error', () => {});
  });
  expect(status).toBe(404);
});
