// Shared helpers of the chart / skaffold / image tests: the cached tools (charts/scripts/ensure-tools.sh),
// rendering the chart, strict Kubernetes schema validation, and the pure checks the tests run (each check
// returns a list of problems, so a test can also prove that a broken input produces problems).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

export const ROOT = resolve(__dirname, '../..');
export const CHART = join(ROOT, 'charts', 'parley');
export const CACHE = process.env.PARLEY_CACHE || join(homedir(), '.cache', 'parley');
export const HELM = join(CACHE, 'bin', 'helm');
export const KUBERNETES_VALIDATE = join(CACHE, 'bin', 'kubernetes-validate');
export const DOCKERFILE_CHECK = join(CACHE, 'bin', 'dockerfile-check');
/** The one image build every service shares (`--build-arg SERVICE=<service>`). */
export const DOCKERFILE = join(ROOT, 'Dockerfile');
/** The Kubernetes version every rendered object is validated against (strict schemas bundled by kubernetes-validate). */
export const K8S_VERSION = process.env.PARLEY_K8S_SCHEMA_VERSION || '1.36.0';
export const RELEASE = 'parley';
export const NAMESPACE = 'parley';

/** Values files the chart ships, by mode. */
export const MODES: Record<string, string[]> = {
  default: [],
  dev: [join(CHART, 'values-dev.yaml')],
  production: [join(CHART, 'values-production.yaml')],
};

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> }; [k: string]: unknown };
// Loose structural types for the parts of rendered objects the checks read.
/* eslint-disable @typescript-eslint/no-explicit-any */
export type Obj = any;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Runs ensure-tools.sh (idempotent: ~0.2 s when cached) so the tests also work when jest is run alone. */
let toolsReady = false;
export function ensureTools(): void {
  if (toolsReady) return;
  execFileSync('bash', [join(ROOT, 'charts', 'scripts', 'ensure-tools.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (const tool of [HELM, KUBERNETES_VALIDATE, DOCKERFILE_CHECK]) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing after charts/scripts/ensure-tools.sh`);
  }
  toolsReady = true;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): RunResult {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function valuesArgs(valuesFiles: string[], set: string[] = []): string[] {
  return [...valuesFiles.flatMap((f) => ['-f', f]), ...set.flatMap((s) => ['--set', s])];
}

export function helmLint(chart: string, valuesFiles: string[], set: string[] = []): RunResult {
  return run(HELM, ['lint', chart, '--strict', '--kube-version', K8S_VERSION, ...valuesArgs(valuesFiles, set)]);
}

export function helmTemplate(chart: string, valuesFiles: string[], set: string[] = []): RunResult {
  return run(HELM, ['template', RELEASE, chart, '--namespace', NAMESPACE, '--kube-version', K8S_VERSION, ...valuesArgs(valuesFiles, set)]);
}

/** Renders and parses; throws with helm's message when rendering fails. */
export function render(chart: string, valuesFiles: string[], set: string[] = []): { yaml: string; objects: K8sObject[] } {
  const r = helmTemplate(chart, valuesFiles, set);
  if (r.status !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return { yaml: r.stdout, objects: parseObjects(r.stdout) };
}

export function parseObjects(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const o = doc.toJS() as K8sObject | null;
    if (o) out.push(o);
  }
  return out;
}

export interface Validation {
  ok: boolean;
  /** One entry per rendered object that passed. */
  passed: string[];
  /** Errors, missing schemas (unknown kinds) and anything else that is not a pass. */
  problems: string[];
  output: string;
}

/**
 * Validates every object in a multi-document YAML strictly (unknown fields rejected) against the
 * Kubernetes JSON schemas of K8S_VERSION. A kind without a schema counts as a failure, not a warning.
 */
export function validate(yamlText: string, objectCount: number): Validation {
  const dir = mkdtempSync(join(tmpdir(), 'parley-k8s-'));
  const file = join(dir, 'rendered.yaml');
  writeFileSync(file, yamlText);
  let r: RunResult;
  try {
    r = run(KUBERNETES_VALIDATE, ['--kubernetes-version', K8S_VERSION, '--strict', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const output = `${r.stdout}${r.stderr}`;
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  const passed = lines.filter((l) => l.startsWith('INFO') && l.includes(' passed for resource '));
  const problems = lines.filter((l) => !passed.includes(l));
  if (passed.length !== objectCount) problems.push(`${passed.length} objects passed, ${objectCount} were rendered`);
  if (r.status !== 0 && problems.length === 0) problems.push(`kubernetes-validate exited ${r.status}`);
  return { ok: problems.length === 0 && r.status === 0, passed, problems, output };
}

// ---------------------------------------------------------------------------------------------
// The set of services, and where each must be wired.
// ---------------------------------------------------------------------------------------------

/** Services are the folders of services/ that hold a package.json. */
export function servicesOnDisk(root = ROOT): string[] {
  return readdirSync(join(root, 'services'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, 'services', d.name, 'package.json')))
    .map((d) => d.name)
    .sort();
}

/** The services the shared Dockerfile can build: those whose package is @parley/<service>-service (its deploy stage filters for it). */
export function imageBuilds(root = ROOT): string[] {
  return servicesOnDisk(root).filter((s) => {
    const pkg = JSON.parse(readFileSync(join(root, 'services', s, 'package.json'), 'utf8')) as { name?: string };
    return pkg.name === `@parley/${s}-service`;
  });
}

/** Top-level templates/<name>.yaml of the chart: one per service (shared and infra objects live in subfolders). */
export function serviceTemplates(chart = CHART): string[] {
  return readdirSync(join(chart, 'templates'), { withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.yaml'))
    .map((d) => d.name.replace(/\.yaml$/, ''))
    .sort();
}

export function loadSkaffold(file = join(ROOT, 'skaffold.yaml')): Obj {
  return parseYaml(readFileSync(file, 'utf8'));
}

export function loadValues(file = join(CHART, 'values.yaml')): Obj {
  return parseYaml(readFileSync(file, 'utf8'));
}

const sameSet = (a: string[], b: string[]) => {
  const missing = a.filter((x) => !b.includes(x));
  const extra = b.filter((x) => !a.includes(x));
  return { missing, extra };
};

/**
 * Every service must be: a skaffold artifact (image = service name, context ".", the shared Dockerfile with
 * buildArgs SERVICE = its name) whose image is wired into the chart by setValueTemplates, a chart template,
 * a values block, and an image build (a package the Dockerfile's deploy stage filters for).
 * And nothing else may be: an artifact or template without a service fails too.
 */
export function wiringProblems(input: { services: string[]; skaffold: Obj; templates: string[]; values: Obj; images: string[] }): string[] {
  const problems: string[] = [];
  const { services, skaffold } = input;
  const artifacts: Obj[] = skaffold?.build?.artifacts ?? [];
  const images = artifacts.map((a) => String(a.image));
  const cmp = (what: string, got: string[]) => {
    const { missing, extra } = sameSet(services, got);
    for (const m of missing) problems.push(`service ${m} has no ${what}`);
    for (const e of extra) problems.push(`${what} ${e} is not a service in services/`);
  };
  cmp('skaffold artifact', images);
  cmp('chart template (charts/parley/templates/<service>.yaml)', input.templates);
  cmp('image build (package @parley/<service>-service for the Dockerfile)', input.images);
  cmp('values block', Object.keys(input.values).filter((k) => typeof input.values[k] === 'object' && input.values[k] !== null && 'enabled' in input.values[k] && 'ports' in input.values[k]));
  for (const a of artifacts) {
    if (a.context !== '.') problems.push(`artifact ${a.image}: context must be "." (Dockerfiles build from the repo root)`);
    if (a.docker?.dockerfile !== 'Dockerfile' || a.docker?.buildArgs?.SERVICE !== a.image) {
      problems.push(`artifact ${a.image}: must build the shared Dockerfile with buildArgs {SERVICE: ${a.image}}`);
    }
  }
  const releases: Obj[] = skaffold?.deploy?.helm?.releases ?? [];
  const release = releases.find((r) => r.chartPath === 'charts/parley');
  if (!release) problems.push('skaffold deploys no helm release with chartPath charts/parley');
  const tpl: Record<string, string> = release?.setValueTemplates ?? {};
  for (const s of services) {
    const key = s.replace(/[^A-Za-z0-9_]/g, '_');
    if (tpl[`${s}.image.repository`] !== `{{.IMAGE_REPO_${key}}}`) problems.push(`skaffold does not set ${s}.image.repository to {{.IMAGE_REPO_${key}}}`);
    if (tpl[`${s}.image.tag`] !== `{{.IMAGE_TAG_${key}}}@{{.IMAGE_DIGEST_${key}}}`) problems.push(`skaffold does not set ${s}.image.tag to {{.IMAGE_TAG_${key}}}@{{.IMAGE_DIGEST_${key}}}`);
  }
  for (const k of Object.keys(tpl)) {
    const svc = k.split('.')[0]!;
    if (!services.includes(svc)) problems.push(`skaffold sets ${k} for ${svc}, which is not a service`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Env contract: the chart against each service's envSpec (services/<name>/src/config.ts).
// ---------------------------------------------------------------------------------------------

export interface EnvVarSpec {
  name: string;
  hasDefault: boolean;
  optional: boolean;
  defaultValue: unknown;
}
export interface EnvSpec {
  names: string[];
  vars: Record<string, EnvVarSpec>;
}

/** Loads the envSpec a service's config module exports; fails (never skips) if the module or export is missing. */
export async function loadEnvSpec(service: string, root = ROOT): Promise<EnvSpec> {
  const file = join(root, 'services', service, 'src', 'config.ts');
  if (!existsSync(file)) throw new Error(`services/${service}/src/config.ts is missing: the chart's env cannot be checked against it`);
  const mod = (await import(file)) as { envSpec?: EnvSpec };
  const spec = mod.envSpec;
  if (!spec || !Array.isArray(spec.names) || typeof spec.vars !== 'object') {
    throw new Error(`services/${service}/src/config.ts does not export envSpec (defineConfig from @parley/kit) with names and vars`);
  }
  return spec;
}

export function byKindName(objects: K8sObject[], kind: string, name: string): Obj | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

export const fullname = (service: string) => `${RELEASE}-${service}`;
export const prefix = (service: string) => service.toUpperCase().replace(/-/g, '_');

/** The env names a container receives: env entries plus the keys of any envFrom ConfigMap/Secret rendered by the chart. */
export function containerEnvNames(container: Obj, objects: K8sObject[]): { names: string[]; problems: string[] } {
  const names: string[] = (container.env ?? []).map((e: Obj) => String(e.name));
  const problems: string[] = [];
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const kind = from.configMapRef ? 'ConfigMap' : 'Secret';
    const obj = byKindName(objects, kind, ref?.name);
    if (!obj) problems.push(`envFrom ${kind} ${ref?.name} is not rendered by the chart: its keys cannot be checked`);
    else names.push(...Object.keys(obj.data ?? obj.stringData ?? {}).map((k) => `${from.prefix ?? ''}${k}`));
  }
  return { names, problems };
}

/**
 * The env and port contract of one service's Deployment:
 *  - every env var the chart sets is one the service reads (envSpec.names);
 *  - every variable without a default (and not optional) is set;
 *  - the port variables (<PREFIX>_GRPC_PORT/_HTTP_PORT, GATEWAY_PORT) are set to the values' ports, which equal the
 *    config's defaults, the container ports and the probes' ports;
 *  - <PREFIX>_<OTHER>_ADDR points at the other service's Service and gRPC port.
 */
export function envProblems(service: string, spec: EnvSpec, objects: K8sObject[], values: Obj): string[] {
  const problems: string[] = [];
  const dep = byKindName(objects, 'Deployment', fullname(service));
  if (!dep) return [`no Deployment ${fullname(service)} rendered`];
  const container = (dep.spec.template.spec.containers as Obj[]).find((c) => c.name === service);
  if (!container) return [`Deployment ${fullname(service)} has no container named ${service}`];
  const { names: set, problems: fromProblems } = containerEnvNames(container, objects);
  problems.push(...fromProblems);
  const read = new Set(spec.names);
  for (const n of set) if (!read.has(n)) problems.push(`${service}: the chart sets ${n}, which services/${service}/src/config.ts does not read`);
  const dupes = set.filter((n, i) => set.indexOf(n) !== i);
  for (const n of new Set(dupes)) problems.push(`${service}: ${n} is set twice`);
  for (const v of Object.values(spec.vars)) {
    if (!v.hasDefault && !v.optional && !set.includes(v.name)) problems.push(`${service}: ${v.name} has no default and the chart does not set it`);
  }

  const specVar = (name: string) => Object.values(spec.vars).find((v) => v.name === name);
  const envValue = (name: string): string | undefined => (container.env ?? []).find((e: Obj) => e.name === name)?.value;
  const containerPort = (portName: string): number | undefined => (container.ports ?? []).find((p: Obj) => p.name === portName)?.containerPort;
  const probePort = (probe: Obj): unknown => probe?.grpc?.port ?? probe?.httpGet?.port ?? probe?.tcpSocket?.port;
  const svcValues = values[service] ?? {};
  const checkPort = (envName: string, valuesPort: unknown, portName: string, probes: [string, Obj][]) => {
    const v = specVar(envName);
    if (!v) return problems.push(`${service}: config has no ${envName} (the port the chart sets and probes)`);
    if (v.defaultValue !== valuesPort) problems.push(`${service}: ${envName} defaults to ${String(v.defaultValue)} in config.ts but the chart's port is ${String(valuesPort)}`);
    if (envValue(envName) !== String(valuesPort)) problems.push(`${service}: the chart sets ${envName}=${envValue(envName)}, not ${String(valuesPort)}`);
    if (containerPort(portName) !== valuesPort) problems.push(`${service}: container port ${portName} is ${containerPort(portName)}, not ${String(valuesPort)}`);
    for (const [what, probe] of probes) {
      if (probePort(probe) !== valuesPort) problems.push(`${service}: ${what} probes port ${String(probePort(probe))}, not ${envName}=${String(valuesPort)}`);
    }
    return undefined;
  };
  if (service === 'gateway') {
    checkPort('GATEWAY_PORT', svcValues.ports?.http, 'http', [
      ['startup', container.startupProbe],
      ['liveness', container.livenessProbe],
      ['readiness', container.readinessProbe],
    ]);
  } else {
    const P = prefix(service);
    checkPort(`${P}_GRPC_PORT`, svcValues.ports?.grpc, 'grpc', []);
    // Readiness is /readyz on the ops port: the kubelet's gRPC probe cannot present a mesh client certificate.
    if (container.readinessProbe?.httpGet?.path !== '/readyz') problems.push(`${service}: the readiness probe must be /readyz on the ops port`);
    checkPort(`${P}_HTTP_PORT`, svcValues.ports?.http, 'ops', [
      ['startup', container.startupProbe],
      ['liveness', container.livenessProbe],
      ['readiness', container.readinessProbe],
    ]);
  }
  for (const e of container.env ?? []) {
    const m = /^([A-Z0-9]+)_([A-Z0-9]+)_ADDR$/.exec(e.name);
    if (!m || m[1] !== prefix(service)) continue;
    const other = m[2]!.toLowerCase();
    const want = `${fullname(other)}:${values[other]?.ports?.grpc}`;
    if (!values[other]?.ports?.grpc) problems.push(`${service}: ${e.name} names ${other}, which is not a gRPC service of the chart`);
    else if (e.value !== want) problems.push(`${service}: ${e.name}=${e.value}, expected ${want}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The local control plane (infra/k8s/parley-k8s) of the suites that run on it: k8s.test.ts and
// skaffold-run.test.ts.
// ---------------------------------------------------------------------------------------------

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deployment/StatefulSet/pod lists of a namespace after expectAllReady checked them. */
export interface ReadyObjects {
  deployments: Obj[];
  statefulsets: Obj[];
  pods: Obj[];
}

/** kubectl against the local control plane: `up()` in beforeAll, `down()` in afterAll. */
export class ControlPlane {
  readonly script = join(ROOT, 'infra', 'k8s', 'parley-k8s');
  kubeconfig = '';
  bin = '';
  private startedHere = false;

  /** Starts the plane unless it runs (first run: builds it, ~15 min on 2 cores, cached in ~/.cache/parley). */
  up(): void {
    this.startedHere = spawnSync(this.script, ['status'], { stdio: 'ignore' }).status !== 0;
    const up = spawnSync(this.script, ['up'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 3_600_000 });
    if (up.status !== 0) throw new Error(`parley-k8s up failed:\n${up.stderr.slice(-4000)}`);
    this.kubeconfig = up.stdout.trim().split('\n').pop()!;
    this.bin = spawnSync(join(ROOT, 'infra', 'k8s', 'build.sh'), ['--print-dir'], { encoding: 'utf8' }).stdout.trim();
  }

  /** Stops the plane if up() started it. */
  down(): void {
    if (this.startedHere) spawnSync(this.script, ['down'], { stdio: 'ignore' });
  }

  kubectl(args: string[]): RunResult {
    return run(join(this.bin, 'kubectl'), ['--kubeconfig', this.kubeconfig, ...args]);
  }

  kubeJson(args: string[]): Obj {
    const r = this.kubectl([...args, '-o', 'json']);
    if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** PersistentVolumes for the dev infra StatefulSets' claims (no provisioner in this cluster), labelled parley-test=<label>. */
  providePVs(pvs: { names: string[]; label: string; hostPath: (i: number) => string; dir: string }): void {
    const items = pvs.names.map((name, i) => ({
      apiVersion: 'v1', kind: 'PersistentVolume',
      metadata: { name, labels: { 'parley-test': pvs.label } },
      spec: { capacity: { storage: '8Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', hostPath: { path: pvs.hostPath(i) } },
    }));
    const f = join(pvs.dir, 'pvs.json');
    writeFileSync(f, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    expect(this.kubectl(['apply', '-f', f]).stderr).toBe('');
  }

  /**
   * Waits until every Deployment of `ns` has finished its rollout, as `kubectl rollout status` means it: the
   * controller saw the latest spec and all replicas are updated, ready and the only ones left. `helm --wait`
   * returns once the new pods are Ready, while the old ReplicaSet may still be scaling down (readyReplicas
   * then counts the old pod too for a moment). Bounded; the caller's checks then report what is still off.
   */
  async waitRolledOut(ns: string, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ds = this.kubeJson(['get', 'deployments', '-n', ns]).items as Obj[];
      const done = ds.every((d) => {
        const want = d.spec.replicas;
        const st = d.status ?? {};
        return st.observedGeneration === d.metadata.generation && st.updatedReplicas === want && st.readyReplicas === want && st.replicas === want;
      });
      if (done || Date.now() > end) return;
      await sleep(500);
    }
  }

  /** Every Deployment/StatefulSet rolled out (with `generation`, observed at its current generation), every
   * pod but the Jobs' Running/Ready on a kwok node; returns what it checked for the caller's own counts. */
  expectAllReady(ns: string, opts: { generation?: boolean } = {}): ReadyObjects {
    const deployments = this.kubeJson(['get', 'deployments', '-n', ns]).items as Obj[];
    for (const d of deployments) {
      const want = d.spec.replicas;
      const gen = opts.generation ? { gen: d.status.observedGeneration } : {};
      expect({ d: d.metadata.name, ready: d.status.readyReplicas, updated: d.status.updatedReplicas, ...gen })
        .toEqual({ d: d.metadata.name, ready: want, updated: want, ...(opts.generation ? { gen: d.metadata.generation } : {}) });
    }
    const statefulsets = this.kubeJson(['get', 'statefulsets', '-n', ns]).items as Obj[];
    for (const s of statefulsets) expect({ s: s.metadata.name, ready: s.status.readyReplicas }).toEqual({ s: s.metadata.name, ready: s.spec.replicas });
    const pods = (this.kubeJson(['get', 'pods', '-n', ns]).items as Obj[]).filter((p) => !p.metadata.ownerReferences?.some((o: Obj) => o.kind === 'Job'));
    for (const p of pods) {
      expect({ p: p.metadata.name, node: /^kwok-node-\d+$/.test(p.spec.nodeName ?? ''), phase: p.status.phase,
        ready: p.status.conditions?.find((c: Obj) => c.type === 'Ready')?.status })
        .toEqual({ p: p.metadata.name, node: true, phase: 'Running', ready: 'True' });
    }
    return { deployments, statefulsets, pods };
  }

  /** The objects of `kinds` left in `ns`, once they are what Kubernetes itself puts in every namespace
   * (pods, ReplicaSets, Job pods and claims go through the garbage collector after helm returns), or after 90 s. */
  async leftInNamespace(ns: string, kinds: string): Promise<{ left: string[]; expected: string[] }> {
    const expected = ['configmap/kube-root-ca.crt', 'serviceaccount/default'];
    const left = () => this.kubectl(['get', kinds, '-n', ns, '-o', 'name']).stdout.trim().split('\n').filter(Boolean).sort();
    let all = left();
    for (let i = 0; i < 180 && JSON.stringify(all) !== JSON.stringify(expected); i++) {
      await sleep(500);
      all = left();
    }
    return { left: all, expected };
  }
}
