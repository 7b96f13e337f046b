// skaffold with the podman toolchain on the local control plane (infra/k8s/parley-skaffold, which adds
// skaffold.yaml's `local` profile): render (the API server accepts the output in a server-side dry run),
// build (the custom build command per artifact: `./parley images` + a tag skaffold reads back through
// podman's Docker-compatible API), deploy (the chart through skaffold's Helm deployer: every Deployment
// and StatefulSet in the API server with the images skaffold built, every pod Ready on a kwok node, the
// schema Job complete, skaffold's own status check passed), delete (nothing of the release left).
// Like k8s.test.ts, it needs the cached toolchain: under `./parley test` the control plane, skaffold and
// the images build in the background on a cold cache, and beforeAll waits for them (every build takes a
// lock); run alone on a cold cache, beforeAll builds them (about an hour on 2 cores).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, HELM, ROOT, ensureTools, parseObjects, run, servicesOnDisk, type Obj } from './lib.js';

jest.setTimeout(600_000);

const SK = join(ROOT, 'infra', 'k8s', 'parley-skaffold');
const IMAGES = join(ROOT, 'infra', 'images', 'parley-images');
const plane = new ControlPlane();
const tmp = mkdtempSync(join(tmpdir(), 'parley-skaffold-test-'));
// Names of this run (a plane reused from an earlier, interrupted run may still hold older ones).
const RUN_ID = Date.now().toString(36);
const NS = `parley-sk-${RUN_ID}`;
const buildFile = join(tmp, 'skaffold-build.json');
// An artifact cache of this run's own (skaffold's default, ~/.skaffold/cache, outlives runs).
const cacheFile = join(tmp, 'skaffold-cache');
const services = servicesOnDisk();
const timings: Record<string, number> = {};

const kubectl = (args: string[]) => plane.kubectl(args);
const kubeJson = (args: string[]): Obj => plane.kubeJson(args);

/** `./parley skaffold ARGS` (skaffold v2.19 with the `local` profile, KUBECONFIG of `./parley k8s up`). */
function skaffold(args: string[]): { status: number; out: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(SK, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 1_800_000 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}`, ms: Date.now() - t0 };
}

/** The env of the project's podman store (infra/images/parley-images env). */
function podmanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const line of spawnSync(IMAGES, ['env'], { encoding: 'utf8' }).stdout.trim().split('\n')) {
    const m = /^export (\w+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  return env;
}
function podman(args: string[]) {
  const r = spawnSync('podman', args, { env: podmanEnv(), encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: (r.stdout ?? '').trim(), stderr: r.stderr ?? '' };
}

function builds(): { imageName: string; tag: string }[] {
  return (JSON.parse(readFileSync(buildFile, 'utf8')) as { builds: { imageName: string; tag: string }[] }).builds;
}

beforeAll(() => {
  ensureTools();
  plane.up();
  // skaffold itself and the seven images (cached; on a cold cache this waits for `./parley test`'s
  // background builds through their locks, or builds them).
  for (const [what, cmd, args] of [['skaffold', join(ROOT, 'infra', 'k8s', 'build.sh'), ['skaffold']], ['images', IMAGES, ['build']]] as const) {
    const r = spawnSync(cmd, [...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 3_600_000 });
    if (r.status !== 0) throw new Error(`${what} build failed:\n${(r.stderr ?? '').slice(-4000)}`);
  }
}, 3 * 3_700_000);

afterAll(() => {
  kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
  kubectl(['delete', 'pv', '-l', `parley-test=skaffold-${RUN_ID}`, '--ignore-not-found', '--wait=false']);
  plane.down();
  // skaffold's tags (<service>:<inputs digest> from the custom build, <service>:<image ID> from skaffold)
  // only name images ./parley images keeps anyway: drop them so that they do not pin older images later.
  for (const s of services) {
    const tags = podman(['image', 'inspect', '--format', '{{range .RepoTags}}{{println .}}{{end}}', `localhost/parley/${s}:dev`]).stdout;
    for (const t of tags.split('\n').filter((x) => new RegExp(`^(localhost|docker\\.io/library)/${s}:[0-9a-f]{64}$`).test(x))) podman(['untag', `localhost/parley/${s}:dev`, t]);
  }
  rmSync(tmp, { recursive: true, force: true });
  if (Object.keys(timings).length) console.log(`[skaffold] ${Object.entries(timings).map(([k, v]) => `${k}: ${(v / 1000).toFixed(1)}s`).join('; ')}`);
});

/** PersistentVolumes for the dev infra StatefulSets' claims (no provisioner in this cluster). */
function providePVs(n: number): void {
  const names = Array.from({ length: n }, (_, i) => `parley-test-sk-${RUN_ID}-${i}`);
  plane.providePVs({ names, label: `skaffold-${RUN_ID}`, hostPath: (i) => `/tmp/parley-sk-pv-${i}`, dir: tmp });
}

/** Every Deployment/StatefulSet rolled out, every pod Running/Ready on a kwok node. */
function expectAllReady(ns: string): void {
  const { deployments, statefulsets, pods } = plane.expectAllReady(ns);
  expect(deployments.map((d) => d.metadata.name).sort()).toEqual(services.map((s) => `parley-${s}`).sort());
  expect(statefulsets.length).toBe(4); // dev values: in-cluster Kafka, Cassandra, Redis, MinIO
  expect(pods.length).toBe(deployments.length + statefulsets.length);
}

describe('skaffold (podman toolchain, this control plane)', () => {
  test('skaffold render -p dev: seven Deployments, accepted by the API server (server-side dry run)', () => {
    const out = join(tmp, 'render.yaml');
    const r = skaffold(['render', '-p', 'dev', '--digest-source=none', '--namespace', NS, '--output', out]);
    expect(r.out).not.toMatch(/level=error|Error:/);
    expect(r.status).toBe(0);
    const objects = parseObjects(readFileSync(out, 'utf8'));
    expect(objects.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name).sort()).toEqual(services.map((s) => `parley-${s}`).sort());
    expect(kubectl(['create', 'namespace', NS]).status).toBe(0);
    const dry = kubectl(['apply', '--dry-run=server', '-n', NS, '-f', out]);
    expect(dry.stderr).toBe('');
    expect(dry.status).toBe(0);
    expect(dry.stdout.match(/^deployment\.apps\/parley-\w+ created \(server dry run\)$/gm)).toHaveLength(services.length);
    expect(dry.stdout.trim().split('\n')).toHaveLength(objects.length); // every rendered object, none refused
    // A dry run stores nothing.
    expect(kubeJson(['get', 'deployments', '-n', NS]).items).toEqual([]);
  });

  test('skaffold build -p dev: one artifact per service through the custom build, tagged by the ID of the ./parley images image', () => {
    // An empty artifact cache: every artifact goes through the custom build command.
    const r = skaffold(['build', '-p', 'dev', '--cache-file', cacheFile, '--file-output', buildFile]);
    for (const s of services) expect(r.out).toContain(`Build [${s}] succeeded`);
    expect(r.status).toBe(0);
    timings['skaffold build (images current)'] = r.ms;
    const got = builds();
    expect(got.map((b) => b.imageName).sort()).toEqual([...services].sort());
    for (const b of got) {
      // Not pushed: skaffold reads the image ID through podman's Docker API and tags the image
      // <service>:<image ID> (an immutable name the manifests can use without a registry digest).
      const m = /^([a-z]+):([0-9a-f]{64})$/.exec(b.tag);
      expect({ tag: b.tag, ok: m !== null && m[1] === b.imageName }).toEqual({ tag: b.tag, ok: true });
      const parley = podman(['image', 'inspect', '--format', '{{.Id}}', `localhost/parley/${b.imageName}:dev`]);
      expect({ tag: b.tag, id: parley.stdout }).toEqual({ tag: b.tag, id: m![2] });
      const tagged = podman(['image', 'inspect', '--format', '{{.Id}}', `docker.io/library/${b.tag}`]);
      expect({ tag: b.tag, status: tagged.status, id: tagged.stdout }).toEqual({ tag: b.tag, status: 0, id: m![2] });
    }
  });

  test('skaffold build again, from skaffold\'s artifact cache: still each service\'s own image', () => {
    // The seven artifacts have the same context and dependencies; only the command's argument (the
    // service) tells their cache keys apart. Without it, a cached build tagged every one with one image.
    const again = join(tmp, 'skaffold-build-cached.json');
    const r = skaffold(['build', '-p', 'dev', '--cache-file', cacheFile, '--file-output', again]);
    expect(r.status).toBe(0);
    for (const s of services) expect(r.out).toMatch(new RegExp(`^ - ${s}: Found`, 'm'));
    expect(r.out).not.toMatch(/Building \[/);
    const cached = (JSON.parse(readFileSync(again, 'utf8')) as { builds: { imageName: string; tag: string }[] }).builds;
    expect(cached.map((b) => [b.imageName, b.tag]).sort()).toEqual(builds().map((b) => [b.imageName, b.tag]).sort());
    expect(new Set(cached.map((b) => b.tag.split(':')[1])).size).toBe(services.length);
  });

  test('skaffold deploy -p dev: the chart through the Helm deployer, with the built images; every pod Ready on kwok nodes', () => {
    providePVs(4);
    const r = skaffold(['deploy', '-p', 'dev', '--build-artifacts', buildFile, '--namespace', NS, '--status-check=true']);
    expect(r.out).toMatch(/Deployments stabilized in/);
    expect(r.status).toBe(0);
    timings['skaffold deploy → stabilized'] = r.ms;
    // Helm holds the release skaffold installed.
    const list = run(HELM, ['--kubeconfig', plane.kubeconfig, 'list', '-n', NS, '-o', 'json']);
    expect((JSON.parse(list.stdout) as Obj[]).map((x) => [x.name, x.status])).toEqual([['parley', 'deployed']]);
    expectAllReady(NS);
    // Every Deployment runs the image skaffold built for its service (wired in by setValueTemplates).
    for (const b of builds()) {
      const d = kubeJson(['get', 'deployment', `parley-${b.imageName}`, '-n', NS]);
      const c = (d.spec.template.spec.containers as Obj[]).find((x) => x.name === b.imageName);
      expect({ d: d.metadata.name, image: c?.image }).toEqual({ d: d.metadata.name, image: b.tag });
      expect(d.metadata.labels['skaffold.dev/run-id']).toMatch(/\S/); // applied through skaffold's post-renderer
    }
    // The schema Job ran (kwok marks its pod Succeeded).
    const jobs = kubeJson(['get', 'jobs', '-n', NS, '-l', 'app.kubernetes.io/component=schema']).items as Obj[];
    expect(jobs.map((j) => j.status.succeeded)).toEqual([1]);
  });

  test('skaffold deploy into a namespace that does not exist fails, and says why', () => {
    const r = skaffold(['deploy', '-p', 'dev', '--build-artifacts', buildFile, '--namespace', `${NS}-missing`, '--status-check=true']);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/namespaces? "parley-sk-[0-9a-z]+-missing" not found/);
  });

  test('skaffold delete -p dev: the release and everything it created are gone', async () => {
    const r = skaffold(['delete', '-p', 'dev', '--namespace', NS]);
    expect(r.status).toBe(0);
    const kinds = 'deployments,statefulsets,replicasets,pods,services,configmaps,secrets,serviceaccounts,jobs,roles,rolebindings,poddisruptionbudgets,horizontalpodautoscalers,networkpolicies,persistentvolumeclaims';
    const { left: all, expected } = await plane.leftInNamespace(NS, kinds);
    expect(all).toEqual(expected); // only what Kubernetes itself puts in every namespace
    expect(run(HELM, ['--kubeconfig', plane.kubeconfig, 'list', '-n', NS, '-a', '-q']).stdout.trim()).toBe('');
  });
});
