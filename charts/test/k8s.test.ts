// The chart on a real Kubernetes control plane (infra/k8s/parley-k8s: etcd, kube-apiserver v1.36,
// controller-manager, scheduler, kwok nodes on loopback). Every object goes through the real admission,
// defaulting and validation; Deployments and StatefulSets are reconciled by the real controllers, pods
// are scheduled by the real scheduler onto kwok nodes, which mark them Running/Ready (and the schema Job's
// pod Succeeded) without running containers.
//   dev values:        install --wait (in-cluster infra, PVs provided), every pod Ready, the schema Job
//                      complete; upgrade rolls every Deployment; uninstall leaves nothing (the
//                      StatefulSets' claims go too: values-dev.yaml's pvcRetentionPolicy)
//   production values: install --wait against external stores (their Secrets exist first), the
//                      schema Job complete, hard anti-affinity spreads pods over nodes,
//                      HPA and PDB objects accepted exactly where the chart renders them
//   negative:          values that break required fields are refused by the API server itself
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHART, ControlPlane, HELM, MODES, ensureTools, render, run, sleep, type Obj } from './lib.js';

jest.setTimeout(600_000);

const plane = new ControlPlane();
const tmp = mkdtempSync(join(tmpdir(), 'parley-k8s-test-'));
// Namespaces and PVs of this run (a plane reused from an earlier, interrupted run may still hold older ones).
const RUN_ID = Date.now().toString(36);
const NS = { dev: `parley-dev-${RUN_ID}`, prod: `parley-prod-${RUN_ID}`, bad: `parley-bad-${RUN_ID}` };

const kubectl = (args: string[]) => plane.kubectl(args);
const kubeJson = (args: string[]): Obj => plane.kubeJson(args);
function helm(args: string[]) {
  return run(HELM, ['--kubeconfig', plane.kubeconfig, ...args]);
}

beforeAll(() => {
  ensureTools();
  plane.up();
}, 3_700_000);

afterAll(() => {
  for (const ns of Object.values(NS)) kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
  kubectl(['delete', 'pv', '-l', `parley-test=k8s-${RUN_ID}`, '--ignore-not-found', '--wait=false']);
  plane.down();
  rmSync(tmp, { recursive: true, force: true });
});

test('the control plane is Kubernetes v1.36 with Ready kwok nodes', () => {
  const v = kubeJson(['version']);
  expect(v.serverVersion.gitVersion).toBe('v1.36.3');
  const nodes = kubeJson(['get', 'nodes']).items as Obj[];
  expect(nodes.length).toBeGreaterThanOrEqual(4);
  for (const n of nodes) expect(n.status.conditions.find((c: Obj) => c.type === 'Ready')?.status).toBe('True');
});

/** Every Deployment/StatefulSet of the release fully rolled out, every pod Ready on a kwok node. */
function expectAllReady(ns: string): void {
  expect(plane.expectAllReady(ns, { generation: true }).pods.length).toBeGreaterThan(0);
}

/** The release's one schema Job (named parley-schema-<hash of its spec>) has succeeded; returns its name. */
function schemaJobSucceeded(ns: string): string {
  const jobs = kubeJson(['get', 'jobs', '-n', ns, '-l', 'app.kubernetes.io/component=schema']).items as Obj[];
  expect(jobs.map((j) => j.metadata.name)).toEqual([expect.stringMatching(/^parley-schema-[0-9a-f]{10}$/)]);
  const job = jobs[0]!;
  expect(job.metadata.annotations['helm.sh/hook']).toBeUndefined();
  expect(job.status.succeeded).toBe(1);
  expect(job.status.conditions?.find((c: Obj) => c.type === 'Complete')?.status).toBe('True');
  return job.metadata.name;
}

/** Runs `helm <args>` while acting as the cloud's load-balancer controller: a LoadBalancer Service gets an
 * ingress address in its status (helm --wait waits for one), as a real cloud would assign. */
async function helmWithLoadBalancer(ns: string, args: string[]): Promise<{ status: number; out: string; ms: number }> {
  const t0 = Date.now();
  const child = spawn(HELM, ['--kubeconfig', plane.kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise<number>((r) => child.once('exit', (c) => r(c ?? -1)));
  let status: number | undefined;
  void done.then((c) => (status = c));
  while (status === undefined) {
    const svcs = kubectl(['get', 'svc', '-n', ns, '-o', 'json']);
    if (svcs.status === 0) {
      for (const s of JSON.parse(svcs.stdout).items as Obj[]) {
        if (s.spec.type === 'LoadBalancer' && !s.status?.loadBalancer?.ingress) {
          kubectl(['patch', 'svc', s.metadata.name, '-n', ns, '--subresource=status', '--type=merge',
            '-p', JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } } })]);
        }
      }
    }
    await sleep(500);
  }
  return { status, out, ms: Date.now() - t0 };
}

/** PersistentVolumes for the dev infra StatefulSets' claims (no provisioner in this cluster). */
function providePVs(n: number, prefix = 'pv'): void {
  const names = Array.from({ length: n }, (_, i) => `parley-test-${RUN_ID}-${prefix}-${i}`);
  plane.providePVs({ names, label: `k8s-${RUN_ID}`, hostPath: (i) => `/tmp/parley-pv-${i}`, dir: tmp });
}

const timings: Record<string, number> = {};

describe('dev values (in-cluster infra)', () => {
  const ns = NS.dev;

  test('helm install --wait: accepted, every pod Ready on kwok nodes, the schema Job completed', async () => {
    providePVs(4);
    const r = await helmWithLoadBalancer(ns, ['install', 'parley', CHART, '-n', ns, '--create-namespace', ...MODES.dev!.flatMap((f) => ['-f', f]), '--wait', '--timeout', '5m']);
    expect(r.out).toMatch(/STATUS: deployed/);
    expect(r.status).toBe(0);
    timings['dev install → all Ready'] = r.ms;
    expectAllReady(ns);
    schemaJobSucceeded(ns);
    // What the API server holds is what the chart renders (nothing dropped, nothing refused).
    const rendered = render(CHART, MODES.dev!).objects;
    expect(rendered.filter((o) => (o.metadata.annotations ?? {})['helm.sh/hook'])).toEqual([]);
    // (The Job's name hashes its spec, which names this namespace's servers: schemaJobSucceeded found it above.)
    for (const o of rendered.filter((x) => x.kind !== 'Job')) {
      const got = kubectl(['get', o.kind, o.metadata.name, '-n', ns, '-o', 'name']);
      expect({ o: `${o.kind}/${o.metadata.name}`, status: got.status }).toEqual({ o: `${o.kind}/${o.metadata.name}`, status: 0 });
    }
    // Defaults and admission are the real ones: e.g. the ServiceAccount token is not mounted into services.
    const gw = kubeJson(['get', 'deployment', 'parley-gateway', '-n', ns]);
    expect(gw.spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(gw.spec.strategy.type).toBe('RollingUpdate');
  });

  test('helm upgrade with changed values rolls every Deployment', async () => {
    const jobBefore = schemaJobSucceeded(ns);
    const before = Object.fromEntries((kubeJson(['get', 'deployments', '-n', ns]).items as Obj[]).map((d) => [d.metadata.name, d]));
    const r = await helmWithLoadBalancer(ns, ['upgrade', 'parley', CHART, '-n', ns, ...MODES.dev!.flatMap((f) => ['-f', f]), '--set', 'global.logLevel=info', '--wait', '--timeout', '5m']);
    expect(r.status).toBe(0);
    timings['dev upgrade → all rolled'] = r.ms;
    const after = kubeJson(['get', 'deployments', '-n', ns]).items as Obj[];
    expect(after.length).toBe(7);
    for (const d of after) {
      const b = before[d.metadata.name];
      expect({ d: d.metadata.name, rolled: d.metadata.generation > b.metadata.generation,
        revision: Number(d.metadata.annotations['deployment.kubernetes.io/revision']) })
        .toEqual({ d: d.metadata.name, rolled: true, revision: Number(b.metadata.annotations['deployment.kubernetes.io/revision']) + 1 });
    }
    await plane.waitRolledOut(ns);
    expectAllReady(ns);
    // Old pods are gone: every pod runs the new template.
    const rs = kubeJson(['get', 'replicasets', '-n', ns]).items as Obj[];
    for (const x of rs) {
      const rev = Number(x.metadata.annotations['deployment.kubernetes.io/revision']);
      expect({ rs: x.metadata.name, replicas: rev >= 2 ? 1 : x.status.replicas }).toEqual({ rs: x.metadata.name, replicas: rev >= 2 ? 1 : 0 });
    }
    // The log level is part of the Job's spec: a new Job ran, and Helm deleted the old one.
    expect(schemaJobSucceeded(ns)).not.toBe(jobBefore);
  });

  test('helm uninstall leaves nothing behind: no Job, no Secret, no claims (dev values)', async () => {
    const claims = kubeJson(['get', 'pvc', '-n', ns]).items as Obj[];
    expect(claims.map((c) => c.metadata.name).sort()).toEqual(['data-parley-cassandra-0', 'data-parley-kafka-0', 'data-parley-minio-0', 'data-parley-redis-0']);
    // The StatefulSet controller made each claim a dependent of its StatefulSet (whenDeleted: Delete).
    for (const c of claims) expect(c.metadata.ownerReferences?.map((o: Obj) => o.kind)).toEqual(['StatefulSet']);
    const r = helm(['uninstall', 'parley', '-n', ns, '--wait', '--timeout', '3m']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const kinds = 'deployments,statefulsets,replicasets,pods,services,configmaps,secrets,serviceaccounts,jobs,roles,rolebindings,poddisruptionbudgets,horizontalpodautoscalers,ingresses,networkpolicies,persistentvolumeclaims,controllerrevisions';
    // Pods, ReplicaSets, Job pods and claims go through the garbage collector after helm returns.
    const { left: all, expected } = await plane.leftInNamespace(ns, kinds);
    expect(all).toEqual(expected); // only what Kubernetes itself puts in every namespace
    expect(helm(['list', '-n', ns, '-a', '-q']).stdout.trim()).toBe('');
    // The PersistentVolumes stay (reclaim policy Retain) but are released: their claims are gone.
    for (const pv of kubeJson(['get', 'pv', '-l', `parley-test=k8s-${RUN_ID}`]).items as Obj[]) {
      expect({ pv: pv.metadata.name, phase: pv.status.phase }).toEqual({ pv: pv.metadata.name, phase: 'Released' });
    }
  });
});

describe('production values (external stores)', () => {
  const ns = NS.prod;

  test('helm install --wait: the schema Job, pods spread by hard anti-affinity, HPA and PDB where rendered', async () => {
    expect(kubectl(['create', 'namespace', ns]).status).toBe(0);
    for (const [name, data] of Object.entries({
      'parley-cassandra-credentials': { PARLEY_CASSANDRA_USERNAME: 'parley', PARLEY_CASSANDRA_PASSWORD: 'x' },
      'parley-redis': { PARLEY_REDIS_URL: 'rediss://redis.example:6380' },
      'parley-minio': { PARLEY_MINIO_ACCESS_KEY: 'a', PARLEY_MINIO_SECRET_KEY: 'b' },
      'parley-session-signing-key': { SESSION_SIGNING_KEY_SECRET: 'k'.repeat(32) },
    })) {
      const r = kubectl(['create', 'secret', 'generic', name, '-n', ns, ...Object.entries(data).map(([k, v]) => `--from-literal=${k}=${v}`)]);
      expect(r.stderr).toBe('');
    }
    const r = await helmWithLoadBalancer(ns, ['install', 'parley', CHART, '-n', ns, ...MODES.production!.flatMap((f) => ['-f', f]), '--wait', '--timeout', '5m']);
    expect(r.out).toMatch(/STATUS: deployed/);
    expect(r.status).toBe(0);
    timings['production install → all Ready'] = r.ms;
    expectAllReady(ns);
    schemaJobSucceeded(ns);
    // Hard anti-affinity: no two pods of one component on one node.
    const pods = kubeJson(['get', 'pods', '-n', ns, '-l', 'app.kubernetes.io/component=gateway']).items as Obj[];
    expect(pods.length).toBe(4);
    expect(new Set(pods.map((p) => p.spec.nodeName)).size).toBe(4);
    // HPA and PDB objects: the API server holds exactly the ones the chart renders for these values.
    const rendered = render(CHART, MODES.production!).objects;
    for (const kind of ['HorizontalPodAutoscaler', 'PodDisruptionBudget']) {
      const want = rendered.filter((o) => o.kind === kind).map((o) => o.metadata.name).sort();
      const got = (kubeJson(['get', kind, '-n', ns]).items as Obj[]).map((o) => o.metadata.name).sort();
      expect({ kind, got }).toEqual({ kind, want: undefined, got: want });
      expect(want.length).toBeGreaterThan(0);
    }
    // The PDBs select their pods (the disruption controller counts them).
    for (const pdb of kubeJson(['get', 'pdb', '-n', ns]).items as Obj[]) {
      expect({ pdb: pdb.metadata.name, healthy: pdb.status.currentHealthy > 0 }).toEqual({ pdb: pdb.metadata.name, healthy: true });
    }
    const hpa = kubeJson(['get', 'hpa', 'parley-session', '-n', ns]);
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'parley-session' });
    expect(helm(['uninstall', 'parley', '-n', ns, '--wait']).status).toBe(0);
  });
});

describe('refusals by the real API server', () => {
  const ns = NS.bad;
  beforeAll(() => {
    kubectl(['create', 'namespace', ns]);
  });

  test.each([
    ['a container port of 0 (containerPort is a required field)', 'presence:\n  ports: {grpc: 0, http: 9464}\n', /containerPort: Required value/],
    ['a port out of range', 'session:\n  ports: {grpc: 70000, http: 9461}\n', /containerPort: Invalid value: 70000|must be between 1 and 65535/],
    ['a malformed resource quantity', 'push:\n  resources:\n    requests: {cpu: "two cores"}\n', /quantities must match the regular expression|unable to parse quantity/],
  ])('%s', (_what, values, message) => {
    const name = `bad-${Math.random().toString(36).slice(2, 8)}`;
    const f = join(tmp, `${name}.yaml`);
    writeFileSync(f, values);
    // helm template accepts it (the chart has no opinion), the API server does not.
    expect(render(CHART, [...MODES.dev!, f]).objects.length).toBeGreaterThan(0);
    const r = helm(['install', name, CHART, '-n', ns, ...MODES.dev!.flatMap((x) => ['-f', x]), '-f', f, '--timeout', '1m']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/ is invalid: | cannot be handled as a /); // the API server's validation or decoding refusal
    helm(['uninstall', name, '-n', ns]);
  });
});

afterAll(() => {
  // Measured numbers, for docs/operations.md.
  if (Object.keys(timings).length) console.log(`[k8s] ${Object.entries(timings).map(([k, v]) => `${k}: ${(v / 1000).toFixed(1)}s`).join('; ')}`);
});
