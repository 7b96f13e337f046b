// skaffold with the podman toolchain on the local control plane (infra/k8s/parley-skaffold): render
// (and the API server accepts the output in a server-side dry run), build (seven images through podman's
// Docker-compatible API into the podman store), deploy (the chart through skaffold's Helm deployer,
// every pod Ready on kwok nodes, with the images skaffold built).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, ensureTools, run, type Obj } from './lib.js';

jest.setTimeout(600_000);

const K8S = join(ROOT, 'infra', 'k8s', 'parley-k8s');
let kubeconfig = '';
let bin = '';
let startedHere = false;
const tmp = mkdtempSync(join(tmpdir(), 'parley-skaffold-test-'));

function kubectl(args: string[]) {
  return run(join(bin, 'kubectl'), ['--kubeconfig', kubeconfig, ...args]);
}
function kubeJson(args: string[]): Obj {
  const r = kubectl([...args, '-o', 'json']);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

beforeAll(() => {
  ensureTools();
  startedHere = spawnSync(K8S, ['status'], { stdio: 'ignore' }).status !== 0;
  const up = spawnSync(K8S, ['up'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 3_600_000 });
  if (up.status !== 0) throw new Error(`parley-k8s up failed:\n${up.stderr.slice(-4000)}`);
  kubeconfig = up.stdout.trim().split('\n').pop()!;
  bin = spawnSync(join(ROOT, 'infra', 'k8s', 'build.sh'), ['--print-dir'], { encoding: 'utf8' }).stdout.trim();
}, 3_700_000);

afterAll(() => {
  kubectl(['delete', 'namespace', 'parley-sk', '--ignore-not-found', '--wait=false']);
  kubectl(['delete', 'pv', '-l', 'parley-test=skaffold', '--ignore-not-found', '--wait=false']);
  if (startedHere) spawnSync(K8S, ['down'], { stdio: 'ignore' });
  rmSync(tmp, { recursive: true, force: true });
});

function providePVs(n: number): void {
  const items = Array.from({ length: n }, (_, i) => ({
    apiVersion: 'v1', kind: 'PersistentVolume',
    metadata: { name: `parley-test-sk-${i}`, labels: { 'parley-test': 'skaffold' } },
    spec: { capacity: { storage: '8Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', hostPath: { path: `/tmp/parley-sk-pv-${i}` } },
  }));
  const f = join(tmp, 'pvs.json');
  writeFileSync(f, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  expect(kubectl(['apply', '-f', f]).stderr).toBe('');
}

/** Every Deployment/StatefulSet rolled out, every pod Ready on a kwok node. */
function expectAllReady(ns: string): void {
  for (const d of kubeJson(['get', 'deployments', '-n', ns]).items as Obj[]) {
    expect({ d: d.metadata.name, ready: d.status.readyReplicas }).toEqual({ d: d.metadata.name, ready: d.spec.replicas });
  }
  const pods = (kubeJson(['get', 'pods', '-n', ns]).items as Obj[]).filter((p) => !p.metadata.ownerReferences?.some((o: Obj) => o.kind === 'Job'));
  expect(pods.length).toBeGreaterThan(0);
  for (const p of pods) {
    expect({ p: p.metadata.name, node: /^kwok-node-\d+$/.test(p.spec.nodeName ?? ''), ready: p.status.conditions?.find((c: Obj) => c.type === 'Ready')?.status })
      .toEqual({ p: p.metadata.name, node: true, ready: 'True' });
  }
}

describe('skaffold (podman toolchain, this control plane)', () => {
  const ns = 'parley-sk';
  const SK = join(ROOT, 'infra', 'k8s', 'parley-skaffold');
  const sk = (args: string[]) => spawnSync(SK, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 3_000_000 });
  const buildFile = join(tmp, 'skaffold-build.json');

  test('skaffold render: the dev release, accepted by the API server (server-side dry run)', () => {
    const r = sk(['render', '-p', 'dev', '--digest-source=none', '--namespace', ns, '--output', join(tmp, 'render.yaml')]);
    expect(r.stderr).not.toMatch(/level=error|Error:/);
    expect(r.status).toBe(0);
    kubectl(['create', 'namespace', ns]);
    const dry = kubectl(['apply', '--dry-run=server', '-n', ns, '-f', join(tmp, 'render.yaml')]);
    expect(dry.stderr).toBe('');
    expect(dry.stdout.match(/^deployment\.apps\/parley-\w+ created \(server dry run\)$/gm)).toHaveLength(7);
  }, 1_800_000);

  test('skaffold build: seven images through podman\'s Docker API into the podman store', () => {
    const r = sk(['build', '-p', 'dev', '--file-output', buildFile]);
    expect(r.status).toBe(0);
    const builds = (JSON.parse(readFileSync(buildFile, 'utf8')) as { builds: { imageName: string; tag: string }[] }).builds;
    expect(builds.map((b) => b.imageName).sort()).toEqual(['gateway', 'group', 'media', 'message', 'presence', 'push', 'session']);
    const env = { ...process.env };
    for (const line of spawnSync(join(ROOT, 'infra', 'images', 'parley-images'), ['env'], { encoding: 'utf8' }).stdout.trim().split('\n')) {
      const m = /^export (\w+)=(.*)$/.exec(line);
      if (m) env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
    }
    for (const b of builds) {
      const tag = b.tag.split('@')[0]!;
      expect({ tag, exists: spawnSync('podman', ['image', 'exists', tag], { env }).status }).toEqual({ tag, exists: 0 });
    }
  }, 3_000_000);

  test('skaffold deploy: installs the chart with the built images; every pod Ready', () => {
    providePVs(4);
    const r = sk(['deploy', '-p', 'dev', '--build-artifacts', buildFile, '--namespace', ns, '--status-check=true']);
    expect(r.stderr + r.stdout).toMatch(/Deployments stabilized/);
    expect(r.status).toBe(0);
    expectAllReady(ns);
    const builds = (JSON.parse(readFileSync(buildFile, 'utf8')) as { builds: { imageName: string; tag: string }[] }).builds;
    for (const b of builds) {
      const d = kubeJson(['get', 'deployment', `parley-${b.imageName}`, '-n', ns]);
      expect(d.spec.template.spec.containers[0].image).toBe(b.tag);
    }
    const del = sk(['delete', '-p', 'dev', '--namespace', ns]);
    expect(del.status).toBe(0);
  }, 1_800_000);
});

