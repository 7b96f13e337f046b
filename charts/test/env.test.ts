// The chart against what each service actually reads: envSpec (services/<name>/src/config.ts, built with
// defineConfig from @parley/kit). Every env var a Deployment sets must be one the service reads, every
// variable without a default must be set, and the ports the chart exposes and probes must equal the
// config's port defaults. A missing config module fails the test (it never skips).
import { CHART, MODES, ensureTools, envProblems, fullname, loadEnvSpec, loadValues, render, servicesOnDisk, type EnvSpec, type K8sObject, type Obj } from './lib.js';

const services = servicesOnDisk();
const objectsByMode: Record<string, K8sObject[]> = {};

beforeAll(() => {
  ensureTools();
  for (const [mode, files] of Object.entries(MODES)) objectsByMode[mode] = render(CHART, files).objects;
}, 900_000);

const valuesFor = (mode: string): Obj => {
  const base = loadValues();
  for (const f of MODES[mode]!) {
    for (const [k, v] of Object.entries(loadValues(f) as Obj)) base[k] = typeof v === 'object' && v && !Array.isArray(v) ? { ...base[k], ...v } : v;
  }
  return base;
};

describe.each(services)('%s', (service) => {
  test.each(Object.keys(MODES))('env and ports of its Deployment match its config.ts (%s values)', async (mode) => {
    const spec = await loadEnvSpec(service);
    expect(envProblems(service, spec, objectsByMode[mode]!, valuesFor(mode))).toEqual([]);
  });
});

describe('the env check can fail', () => {
  // Stand-in specs built from the real one, so these run even while a service's config is being written.
  const gatewaySpec = (): Promise<EnvSpec> => loadEnvSpec('gateway');
  const rename = (spec: EnvSpec, from: string, to: string): EnvSpec => ({
    names: spec.names.map((n) => (n === from ? to : n)),
    vars: Object.fromEntries(Object.entries(spec.vars).map(([k, v]) => [k, v.name === from ? { ...v, name: to } : v])),
  });

  test('a variable renamed in the service config (the chart still sets the old name)', async () => {
    const spec = rename(await gatewaySpec(), 'GATEWAY_INSTANCE_ID', 'GATEWAY_ID');
    const problems = envProblems('gateway', spec, objectsByMode.default!, valuesFor('default'));
    expect(problems).toContain('gateway: the chart sets GATEWAY_INSTANCE_ID, which services/gateway/src/config.ts does not read');
  });

  test('a variable renamed in the chart', async () => {
    const objects = structuredClone(objectsByMode.default!);
    const dep = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === fullname('gateway')) as Obj;
    const env = dep.spec.template.spec.containers[0].env.find((e: Obj) => e.name === 'GATEWAY_SESSION_ADDR');
    env.name = 'GATEWAY_SESSIONS_ADDR';
    expect(envProblems('gateway', await gatewaySpec(), objects, valuesFor('default'))).toContain(
      'gateway: the chart sets GATEWAY_SESSIONS_ADDR, which services/gateway/src/config.ts does not read',
    );
  });

  test('a required variable (no default) the chart does not set', async () => {
    const spec = await gatewaySpec();
    const key = Object.keys(spec.vars).find((k) => spec.vars[k]!.name === 'GATEWAY_MAX_FRAME_BYTES')!;
    const required: EnvSpec = { ...spec, vars: { ...spec.vars, [key]: { ...spec.vars[key]!, hasDefault: false, defaultValue: undefined } } };
    expect(envProblems('gateway', required, objectsByMode.default!, valuesFor('default'))).toContain(
      'gateway: GATEWAY_MAX_FRAME_BYTES has no default and the chart does not set it',
    );
  });

  test('a port default changed in the config but not in the chart', async () => {
    const spec = await gatewaySpec();
    const key = Object.keys(spec.vars).find((k) => spec.vars[k]!.name === 'GATEWAY_PORT')!;
    const moved: EnvSpec = { ...spec, vars: { ...spec.vars, [key]: { ...spec.vars[key]!, defaultValue: 8088 } } };
    expect(envProblems('gateway', moved, objectsByMode.default!, valuesFor('default')).join('\n')).toMatch(/GATEWAY_PORT defaults to 8088 in config\.ts but the chart's port is 8080/);
  });

  test('a probe on another port than the one the service listens on', async () => {
    const objects = structuredClone(objectsByMode.default!);
    const dep = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === fullname('message')) as Obj;
    dep.spec.template.spec.containers[0].readinessProbe.httpGet.port = 50099;
    const spec = await loadEnvSpec('message');
    expect(envProblems('message', spec, objects, valuesFor('default')).join('\n')).toMatch(/readiness probes port 50099/);
  });

  test('a missing config module fails instead of skipping', async () => {
    await expect(loadEnvSpec('no-such-service')).rejects.toThrow(/services\/no-such-service\/src\/config\.ts is missing/);
  });
});
