// Killing one infra server makes the services that use it report not-ready; bringing it back makes them
// ready again with no restart (issue 2). Uses Redis (quick to restart): presence and the gateways need it.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, startMesh, type Mesh } from '@parley/testing';

// jest 30 does not apply the project's testTimeout to hooks; the mesh start (presence now migrates Cassandra and
// media waits for its Kafka consumer) takes longer than the 5 s default.
jest.setTimeout(180_000);

const infra = join(repoRoot(), 'infra', 'parley-infra');
let mesh: Mesh;

async function readyStatus(url: string): Promise<number> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(3000) })).status;
  } catch {
    return 0;
  }
}

async function waitStatus(url: string, want: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  let s = 0;
  while (Date.now() - t0 < timeoutMs) {
    s = await readyStatus(url);
    if (s === want) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
  return s;
}

beforeAll(async () => {
  // message too: it creates the Kafka topics media waits for before it reports ready.
  mesh = await startMesh({ services: ['message', 'presence', 'media'], gateways: 0 });
});

afterAll(async () => {
  execFileSync(infra, ['start', 'redis'], { stdio: 'ignore' });
  await mesh?.stop();
});

it('a service goes not-ready when its store dies and ready again when it returns, without a restart', async () => {
  const readyz = mesh.readyUrl('presence')!;
  const mediaReadyz = mesh.readyUrl('media')!;
  const pidBefore = mesh.pid('presence');
  expect(await readyStatus(readyz)).toBe(200);

  execFileSync(infra, ['stop', 'redis'], { stdio: 'ignore' });
  expect(await waitStatus(readyz, 503, 15_000)).toBe(503);
  // media does not use Redis: it stays ready.
  expect(await readyStatus(mediaReadyz)).toBe(200);

  execFileSync(infra, ['start', 'redis'], { stdio: 'ignore' });
  expect(await waitStatus(readyz, 200, 20_000)).toBe(200);
  expect(mesh.pid('presence')).toBe(pidBefore);
}, 90_000);
