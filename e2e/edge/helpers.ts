// Shared helpers of the edge e2e suites (not a test file).
import { LOOSE_AUTH_RATES, startMesh, type Mesh } from '@parley/testing';
import { ParleyConnectError, connect, signUp, type ParleyConnection } from '@parley/client';

export type { Mesh };

// The project-level testTimeout is not applied to hooks here; meshes take seconds to start on a busy box.
jest.setTimeout(180_000);

/** A mesh with the services the edge needs (session; group + message for the authorization tests). */
export function edgeMesh(env: Record<string, string> = {}, services: string[] = ['session']): Promise<Mesh> {
  return startMesh({
    gateways: 2,
    env: { PARLEY_LOG_LEVEL: 'warn', SESSION_SCRYPT_COST: '1024', SESSION_SCRYPT_PARALLELISM: '1', ...LOOSE_AUTH_RATES, ...env },
    services: services as never,
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The HTTP status of a refused upgrade (throws if the upgrade succeeded). */
export async function upgradeStatus(wsUrl: string, token: string, tokenIn: 'header' | 'query' = 'header'): Promise<{ status: number; body: string }> {
  try {
    const c = await connect(wsUrl, token, { tokenIn, timeoutMs: 5000 });
    await c.close();
  } catch (e) {
    if (e instanceof ParleyConnectError && e.status !== undefined) return { status: e.status, body: e.body ?? '' };
    throw e;
  }
  throw new Error('the upgrade was accepted');
}

export async function user(mesh: Mesh, gw = 0) {
  return signUp(mesh.gatewayUrls[gw]!);
}

export async function connected(mesh: Mesh, gw = 1): Promise<{ u: Awaited<ReturnType<typeof user>>; c: ParleyConnection }> {
  const u = await user(mesh, 0);
  const c = await connect(mesh.wsUrls[gw]!, u.accessToken);
  return { u, c };
}

/** No error body may carry a stack trace or internal details. */
export function expectNoLeak(text: string): void {
  expect(text).not.toMatch(/\bat .+\(.+:\d+:\d+\)/);
  expect(text).not.toMatch(/node_modules|\.ts:\d+|\.js:\d+|Error:/);
}

export function b64urlDecode(s: string): string {
  return Buffer.from(s, 'base64url').toString('utf8');
}
export function b64urlEncode(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}
