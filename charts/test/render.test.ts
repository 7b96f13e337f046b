// helm lint + helm template of charts/parley for the default, dev and production values; every rendered
// object validated strictly against the Kubernetes JSON schemas (offline, kubernetes-validate); and the
// invariants the chart promises (security, probes, grace periods, PDB/HPA, config references, the schema
// Job and the services waiting for it). The last block proves these checks fail on a broken chart.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CHART, K8S_VERSION, MODES, byKindName, ensureTools, fullname, helmLint, helmTemplate, loadValues, render,
  servicesOnDisk, validate, type K8sObject, type Obj,
} from './lib.js';

const services = servicesOnDisk();
const rendered: Record<string, K8sObject[]> = {};
const yamlOf: Record<string, string> = {};

beforeAll(() => {
  ensureTools();
  for (const [mode, files] of Object.entries(MODES)) {
    const r = render(CHART, files);
    rendered[mode] = r.objects;
    yamlOf[mode] = r.yaml;
  }
}, 900_000);

const podSpec = (o: Obj): Obj => o.spec.template.spec;
const mergedValues = (mode: string): Obj => {
  // Good enough for the keys the invariants read: values.yaml overlaid by the mode's file (one level deep per service).
  const base = loadValues();
  for (const f of MODES[mode]!) {
    const over = loadValues(f);
    for (const [k, v] of Object.entries(over)) base[k] = typeof v === 'object' && v && !Array.isArray(v) ? { ...base[k], ...v } : v;
  }
  return base;
};

describe.each(Object.keys(MODES))('chart, %s values', (mode) => {
  test('helm lint --strict passes', () => {
    const r = helmLint(CHART, MODES[mode]!);
    expect(`${r.stdout}${r.stderr}`).toContain('0 chart(s) failed');
    expect(r.status).toBe(0);
  });

  test(`every rendered object is valid against the Kubernetes ${K8S_VERSION} schemas (strict)`, () => {
    const objects = rendered[mode]!;
    expect(objects.length).toBeGreaterThan(20);
    const v = validate(yamlOf[mode]!, objects.length);
    expect(v.problems).toEqual([]);
    expect(v.passed).toHaveLength(objects.length);
  }, 120_000);

  test('one Deployment, ServiceAccount and PodDisruptionBudget per service; HPA only where enabled', () => {
    const objects = rendered[mode]!;
    const values = mergedValues(mode);
    const deployments = objects.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name).sort();
    expect(deployments).toEqual(services.map(fullname).sort());
    for (const s of services) {
      expect(byKindName(objects, 'ServiceAccount', fullname(s))).toBeDefined();
      const pdb = byKindName(objects, 'PodDisruptionBudget', fullname(s));
      expect(pdb).toBeDefined();
      const hpa = byKindName(objects, 'HorizontalPodAutoscaler', fullname(s));
      expect(Boolean(hpa)).toBe(Boolean(values[s].autoscaling?.enabled));
      const dep = byKindName(objects, 'Deployment', fullname(s));
      // With an HPA the Deployment leaves replicas to it, so an upgrade does not fight the autoscaler.
      expect(dep.spec.replicas === undefined).toBe(Boolean(hpa));
    }
    // The gateway holds WebSockets: never autoscaled by default.
    expect(byKindName(objects, 'HorizontalPodAutoscaler', fullname('gateway'))).toBeUndefined();
  });

  test('pods run as non-root with a read-only root filesystem and no service-account token in the service container', () => {
    for (const dep of rendered[mode]!.filter((o) => o.kind === 'Deployment')) {
      const spec = podSpec(dep);
      expect(spec.securityContext.runAsNonRoot).toBe(true);
      expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
      expect(spec.automountServiceAccountToken).toBe(false);
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
        expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
        expect(c.securityContext.capabilities.drop).toContain('ALL');
      }
      const main = spec.containers[0];
      expect((main.volumeMounts ?? []).map((m: Obj) => m.mountPath)).not.toContain('/var/run/secrets/kubernetes.io/serviceaccount');
      expect(main.resources.requests.cpu).toBeDefined();
      expect(main.resources.requests.memory).toBeDefined();
      expect(main.resources.limits.memory).toBeDefined();
    }
  });

  test('terminationGracePeriodSeconds is longer than preStop + each service\'s drain time', () => {
    const values = mergedValues(mode);
    for (const s of services) {
      const spec = podSpec(byKindName(rendered[mode]!, 'Deployment', fullname(s)));
      const preStop = spec.containers[0].lifecycle.preStop.sleep.seconds;
      expect(preStop).toBe(values.global.preStopSleepSeconds);
      expect(values[s].drainSeconds).toBeGreaterThanOrEqual(25); // @parley/kit runService's shutdown budget
      expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(preStop + values[s].drainSeconds);
    }
  });

  test('probes: /healthz and /readyz on HTTP (ops port; a kubelet gRPC probe has no mesh certificate)', () => {
    for (const s of services) {
      const c = podSpec(byKindName(rendered[mode]!, 'Deployment', fullname(s))).containers[0];
      expect(c.livenessProbe.httpGet.path).toBe('/healthz');
      expect(c.startupProbe.httpGet.path).toBe('/healthz');
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(c.readinessProbe.grpc).toBeUndefined();
    }
  });

  test('every ConfigMap/Secret reference resolves to a rendered object or a declared existingSecret', () => {
    const objects = rendered[mode]!;
    const values = mergedValues(mode);
    const existing = new Set([values.minio?.existingSecret, values.redis?.existingSecret, values.session?.signingKey?.existingSecret, values.cassandra?.auth?.existingSecret].filter(Boolean));
    const pods = objects.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind)).map(podSpec);
    let refs = 0;
    for (const spec of pods) {
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        for (const e of c.env ?? []) {
          const cm = e.valueFrom?.configMapKeyRef;
          const sec = e.valueFrom?.secretKeyRef;
          if (cm) {
            refs++;
            const obj = byKindName(objects, 'ConfigMap', cm.name);
            expect({ ref: `${cm.name}/${cm.key}`, found: Boolean(obj?.data && cm.key in obj.data) }).toEqual({ ref: `${cm.name}/${cm.key}`, found: true });
          }
          if (sec) {
            refs++;
            const obj = byKindName(objects, 'Secret', sec.name);
            const ok = obj ? Boolean(obj.data && sec.key in obj.data) : existing.has(sec.name);
            expect({ ref: `${sec.name}/${sec.key}`, ok }).toEqual({ ref: `${sec.name}/${sec.key}`, ok: true });
          }
        }
      }
    }
    expect(refs).toBeGreaterThan(10);
  });

  test('no secret value is hard-coded: secrets are generated Secrets or existingSecret references', () => {
    for (const dep of rendered[mode]!.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind))) {
      for (const c of [...(podSpec(dep).initContainers ?? []), ...podSpec(dep).containers]) {
        for (const e of c.env ?? []) {
          if (/(SECRET|PASSWORD|ACCESS_KEY|ROOT_USER)/.test(e.name)) expect({ name: e.name, value: e.value }).toEqual({ name: e.name, value: undefined });
        }
      }
    }
  });

  test('schema Job: a release object named by its spec that migrates with every Cassandra-owning image, then creates topics; services wait for it', () => {
    const objects = rendered[mode]!;
    const jobs = objects.filter((o) => o.kind === 'Job');
    expect(jobs).toHaveLength(1);
    const job = jobs[0]! as Obj;
    // Not a Helm hook (so `helm uninstall` deletes it); a changed spec is a new name (a Job's template is immutable).
    expect(job.metadata.annotations['helm.sh/hook']).toBeUndefined();
    expect(job.metadata.name).toMatch(new RegExp(`^${fullname('schema')}-[0-9a-f]{10}$`));
    const other = render(CHART, MODES[mode]!, ['schema.backoffLimit=3']).objects.find((o) => o.kind === 'Job')!;
    expect(other.metadata.name).not.toBe(job.metadata.name);
    const again = render(CHART, MODES[mode]!, ['gateway.replicas=5']).objects.find((o) => o.kind === 'Job')!;
    expect(again.metadata.name).toBe(job.metadata.name); // what the Job does not depend on does not rename it
    const generation = job.metadata.annotations['parley.dev/schema-generation'];
    expect(generation).toMatch(/^[0-9a-f]{16}$/);
    const steps = [...podSpec(job).initContainers, ...podSpec(job).containers].filter((c: Obj) => c.args);
    expect(steps.map((c: Obj) => `${c.args[0]}:${c.image.split('/').pop().split(':')[0]}`)).toEqual([
      'migrate:session', 'migrate:group', 'migrate:message', 'migrate:presence', 'migrate:media', 'migrate:push', 'topics:message',
    ]);
    const role = byKindName(objects, 'Role', `${fullname('schema-reader')}`);
    expect(role.rules).toEqual([{ apiGroups: ['batch'], resources: ['jobs'], resourceNames: [job.metadata.name], verbs: ['get'] }]);
    const bound = byKindName(objects, 'RoleBinding', `${fullname('schema-reader')}`).subjects.map((s: Obj) => s.name);
    for (const dep of objects.filter((o) => o.kind === 'Deployment')) {
      const wait = (podSpec(dep).initContainers ?? []).find((c: Obj) => c.name === 'wait-for-schema');
      if (dep.metadata.name === fullname('gateway')) {
        expect(wait).toBeUndefined();
        continue;
      }
      expect(wait).toBeDefined();
      expect(wait.command.slice(-2)).toEqual([job.metadata.name, generation]);
      expect(bound).toContain(podSpec(dep).serviceAccountName);
    }
  });

  test('what helm uninstall keeps: the claims and the signing key exactly where values say so', () => {
    const objects = rendered[mode]!;
    const values = mergedValues(mode);
    const kept = objects.filter((o) => o.metadata.annotations?.['helm.sh/resource-policy'] === 'keep').map((o) => `${o.kind}/${o.metadata.name}`);
    const generatesKey = !values.session.signingKey.existingSecret && objects.some((o) => o.kind === 'Secret' && o.metadata.name === fullname('session-signing-key'));
    expect(kept).toEqual(generatesKey && values.session.signingKey.keepOnUninstall ? [`Secret/${fullname('session-signing-key')}`] : []);
    for (const sts of objects.filter((o) => o.kind === 'StatefulSet') as Obj[]) {
      expect({ sts: sts.metadata.name, policy: sts.spec.persistentVolumeClaimRetentionPolicy })
        .toEqual({ sts: sts.metadata.name, policy: { whenDeleted: values.infra.pvcRetentionPolicy.whenDeleted, whenScaled: 'Retain' } });
    }
    if (mode === 'dev') {
      expect(kept).toEqual([]);
      expect(values.infra.pvcRetentionPolicy.whenDeleted).toBe('Delete');
    }
    if (mode === 'default') expect(values.infra.pvcRetentionPolicy.whenDeleted).toBe('Retain');
  });

  test('schema Job as a Helm hook when schema.hookPhase lists hooks (fixed name, replaced before each run)', () => {
    const objects = render(CHART, MODES[mode]!, ['schema.hookPhase=pre-install\\,pre-upgrade']).objects;
    const job = objects.find((o) => o.kind === 'Job')! as Obj;
    expect(job.metadata.name).toBe(fullname('schema'));
    expect(job.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'pre-install,pre-upgrade', 'helm.sh/hook-delete-policy': 'before-hook-creation' });
    const role = byKindName(objects, 'Role', `${fullname('schema-reader')}`);
    expect(role.rules[0].resourceNames).toEqual([fullname('schema')]);
  });

  test('gateway Service is fit for an L4 load balancer (or ClusterIP in dev)', () => {
    const svc = byKindName(rendered[mode]!, 'Service', fullname('gateway'));
    if (mode === 'dev') expect(svc.spec.type).toBe('ClusterIP');
    else {
      expect(svc.spec.type).toBe('LoadBalancer');
      expect(svc.spec.externalTrafficPolicy).toBe('Local');
    }
    expect(svc.spec.ports).toEqual([expect.objectContaining({ protocol: 'TCP', targetPort: 'http' })]);
  });

  test('infra StatefulSets with PVCs exist exactly when infra.enabled', () => {
    const values = mergedValues(mode);
    const sts = rendered[mode]!.filter((o) => o.kind === 'StatefulSet');
    expect(sts.map((o) => o.metadata.name).sort()).toEqual(values.infra.enabled ? ['cassandra', 'kafka', 'minio', 'redis'].map(fullname) : []);
    for (const s of sts) expect((s as Obj).spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBeDefined();
  });
});

describe('chart options', () => {
  beforeAll(() => ensureTools(), 900_000);

  test('production images are <repository>/<service>:<tag>, and skaffold-style per-service overrides win', () => {
    const { objects } = render(CHART, MODES.production!, ['global.image.tag=1.2.3', 'session.image.repository=reg.local/x/session', 'session.image.tag=abc@sha256:0123']);
    const image = (s: string) => podSpec(byKindName(objects, 'Deployment', fullname(s))).containers[0].image;
    expect(image('gateway')).toBe('ghcr.io/parley-chat/gateway:1.2.3');
    expect(image('session')).toBe('reg.local/x/session:abc@sha256:0123');
  });

  test('ingress, NodePort and HPA for the gateway render valid objects', () => {
    const { yaml, objects } = render(CHART, [], ['gateway.ingress.enabled=true', 'gateway.ingress.className=nginx', 'gateway.autoscaling.enabled=true', 'gateway.service.type=NodePort']);
    expect(byKindName(objects, 'Ingress', fullname('gateway'))).toBeDefined();
    expect(byKindName(objects, 'HorizontalPodAutoscaler', fullname('gateway')).spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(900);
    expect(validate(yaml, objects.length).problems).toEqual([]);
  }, 120_000);

  test('external infra without connection settings fails with a message naming the value', () => {
    const r = helmTemplate(CHART, [], ['infra.enabled=false']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/cassandra\.contactPoints is required/);
    const r2 = helmTemplate(CHART, MODES.production!, ['minio.existingSecret=']);
    expect(r2.stderr).toMatch(/minio\.existingSecret is required/);
  });

  test('a grace period not longer than the drain time is refused', () => {
    const r = helmTemplate(CHART, [], ['message.terminationGracePeriodSeconds=20']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/message\.terminationGracePeriodSeconds \(20\) must be longer/);
  });

  test('a disabled service renders nothing of its own', () => {
    const { objects } = render(CHART, [], ['push.enabled=false']);
    expect(objects.filter((o) => o.metadata.name === fullname('push'))).toEqual([]);
  });

  test('push: provider credentials from an existing Secret (every key optional) and an extra CA bundle for NODE_EXTRA_CA_CERTS', () => {
    const dep = (set: string[]) =>
      render(CHART, [], set).objects.find((o) => o.kind === 'Deployment' && o.metadata.name === fullname('push')) as Obj;
    const plain = podSpec(dep([]));
    expect(plain.containers[0].env.filter((e: Obj) => /^PUSH_(FCM|APNS|VAPID|WEBHOOK)_|^NODE_EXTRA_CA_CERTS$/.test(e.name))).toEqual([]);
    const spec = podSpec(dep(['push.credentials.existingSecret=parley-push', 'push.extraCaCerts.configMap=corp-ca', 'push.env.PUSH_APNS_TOPIC=org.example.app']));
    const env = spec.containers[0].env as Obj[];
    const fromSecret = env.filter((e) => e.valueFrom?.secretKeyRef?.name === 'parley-push');
    expect(fromSecret.map((e) => e.name).sort()).toEqual([
      'PUSH_APNS_KEY', 'PUSH_APNS_KEY_ID', 'PUSH_APNS_TEAM_ID', 'PUSH_FCM_SERVICE_ACCOUNT', 'PUSH_VAPID_PRIVATE_KEY', 'PUSH_VAPID_PUBLIC_KEY', 'PUSH_WEBHOOK_SECRET',
    ]); // PUSH_APNS_TOPIC: push.env wins
    expect(fromSecret.every((e) => e.valueFrom.secretKeyRef.optional === true)).toBe(true);
    expect(env.filter((e) => e.name === 'PUSH_APNS_TOPIC')).toEqual([{ name: 'PUSH_APNS_TOPIC', value: 'org.example.app' }]);
    expect(env.find((e) => e.name === 'NODE_EXTRA_CA_CERTS')).toEqual({ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/parley/extra-ca/ca.pem' });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'extra-ca', mountPath: '/etc/parley/extra-ca', readOnly: true });
    expect(spec.volumes).toContainEqual({ name: 'extra-ca', configMap: { name: 'corp-ca', items: [{ key: 'ca.pem', path: 'ca.pem' }] } });
  });
});

describe('the validation can fail: broken copies of the chart', () => {
  let tmp: string;
  let dir: string;
  beforeAll(() => ensureTools(), 900_000);
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'parley-broken-chart-'));
    dir = join(tmp, 'parley');
    cpSync(CHART, dir, { recursive: true });
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));
  const edit = (file: string, from: string, to: string) => {
    const p = join(dir, file);
    const text = readFileSync(p, 'utf8');
    expect(text).toContain(from);
    writeFileSync(p, text.replace(from, to));
  };

  test('a template syntax error fails helm lint', () => {
    edit('templates/_helpers.tpl', '{{- define "parley.workload" -}}', '{{- define "parley.workload" -}}{{ if }}');
    expect(helmLint(dir, []).status).not.toBe(0);
  });

  test('a misspelled field renders fine but fails strict schema validation', () => {
    edit('templates/_helpers.tpl', '          readinessProbe:\n', '          readinesProbe:\n');
    const { yaml, objects } = render(dir, []);
    const v = validate(yaml, objects.length);
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toMatch(/readinesProbe/);
  }, 120_000);

  test('a wrongly typed field (quoted port) fails schema validation', () => {
    edit('templates/_helpers.tpl', 'containerPort: {{ $v.ports.grpc }}', 'containerPort: "{{ $v.ports.grpc }}"');
    const { yaml, objects } = render(dir, []);
    const v = validate(yaml, objects.length);
    expect(v.ok).toBe(false);
    expect(v.problems.join('\n')).toMatch(/containerPort/);
  }, 120_000);

  test('an object of a kind without a schema counts as a failure', () => {
    writeFileSync(join(dir, 'templates', 'shared', 'extra.yaml'), 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n');
    const { yaml, objects } = render(dir, []);
    expect(validate(yaml, objects.length).ok).toBe(false);
  }, 120_000);
});
