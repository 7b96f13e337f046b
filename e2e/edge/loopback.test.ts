// Issue 15: the local mesh (`./parley up`, every e2e suite) is loopback-only by default; with
// PARLEY_EXPOSE_GATEWAYS=1 only the gateways are reachable from a non-loopback address, never a gRPC or
// metrics port. And the caller's environment reaches the services.
import { connect as tcpConnect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { ParleyHttp, signUp } from '@parley/client';
import { LOOSE_AUTH_RATES, startMesh, type Mesh } from '@parley/testing';

jest.setTimeout(300_000);

/** A non-loopback IPv4 address of this machine (the test cannot run without one, so it fails, never skips). */
function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address to test exposure from');
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = tcpConnect({ host, port, timeout: 2000 });
    s.once('connect', () => {
      s.destroy();
      ok(true);
    });
    s.once('error', () => ok(false));
    s.once('timeout', () => {
      s.destroy();
      ok(false);
    });
  });
}

function portsOf(mesh: Mesh): { name: string; port: number; gateway: boolean }[] {
  const out: { name: string; port: number; gateway: boolean }[] = [];
  for (const name of mesh.names()) {
    const env = mesh.envOf(name)!;
    for (const [k, v] of Object.entries(env)) {
      if (/^(SESSION|GROUP|MESSAGE|PRESENCE|MEDIA|PUSH)_(GRPC|HTTP)_PORT$/.test(k) || (k === 'GATEWAY_PORT' && name.startsWith('gateway-'))) {
        out.push({ name: `${name} ${k}`, port: Number(v), gateway: k === 'GATEWAY_PORT' });
      }
    }
  }
  return out;
}

const BASE = { PARLEY_LOG_LEVEL: 'warn', SESSION_SCRYPT_COST: '1024', SESSION_SCRYPT_PARALLELISM: '1', ...LOOSE_AUTH_RATES };

describe('exposure', () => {
  let mesh: Mesh | undefined;
  afterEach(async () => {
    await mesh?.stop();
    mesh = undefined;
  });

  it('by default nothing listens on a non-loopback address; with PARLEY_EXPOSE_GATEWAYS=1 only the gateways do', async () => {
    const ext = externalAddress();
    mesh = await startMesh({ gateways: 2, env: BASE });
    const ports = portsOf(mesh);
    expect(ports.length).toBe(14);
    for (const p of ports) {
      expect([p.name, await reachable('127.0.0.1', p.port)]).toEqual([p.name, true]);
      expect([p.name, await reachable(ext, p.port)]).toEqual([p.name, false]);
    }
    await mesh.stop();

    process.env.PARLEY_EXPOSE_GATEWAYS = '1';
    try {
      mesh = await startMesh({ gateways: 2, env: BASE });
    } finally {
      delete process.env.PARLEY_EXPOSE_GATEWAYS;
    }
    for (const p of portsOf(mesh)) expect([p.name, await reachable(ext, p.port)]).toEqual([p.name, p.gateway]);
    // And the exposed gateway works from there.
    const ready = await fetch(`http://${ext}:${mesh.envOf('gateway-0')!.GATEWAY_PORT}/readyz`);
    expect(ready.status).toBe(200);
  });

  it("the caller's environment reaches the services (here: a device cap set only in process.env)", async () => {
    process.env.SESSION_MAX_DEVICES_PER_USER = '1';
    try {
      mesh = await startMesh({ gateways: 1, services: ['session'], env: BASE });
    } finally {
      delete process.env.SESSION_MAX_DEVICES_PER_USER;
    }
    const u = await signUp(mesh.gatewayUrls[0]!);
    const again = await new ParleyHttp(mesh.gatewayUrls[0]!).raw<{ error: { code: string } }>('POST', '/v1/sessions', { username: u.username, password: u.password });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');
  });
});
