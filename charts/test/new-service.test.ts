// Adding an eighth service is mechanical: scripts/new-service.mjs, run on a copy of the repository's chart,
// skaffold.yaml and service folders, makes a service that the checks every service must pass accept as they
// are (the wiring of wiring.test.ts, the env contract of env.test.ts against a real helm render, the image
// build of the shared Dockerfile of images.test.ts), and it refuses a name or a port already taken.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT,
  ensureTools,
  envProblems,
  imageBuilds,
  loadEnvSpec,
  loadSkaffold,
  loadValues,
  render,
  serviceTemplates,
  servicesOnDisk,
  wiringProblems,
  type K8sObject,
} from './lib.js';

const NAME = 'ledger';
const services = servicesOnDisk();
let tmp = '';
let made: ReturnType<typeof spawnSync>;

const generate = (root: string, ...args: string[]) => spawnSync('node', [join(root, 'scripts', 'new-service.mjs'), ...args, '--root', root], { encoding: 'utf8' });

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'parley-new-service-'));
  for (const p of ['charts/parley', 'skaffold.yaml', 'Dockerfile', 'tsconfig.json', 'scripts/new-service.mjs', 'scripts/service-template']) cpSync(join(ROOT, p), join(tmp, p), { recursive: true });
  for (const s of services) {
    mkdirSync(join(tmp, 'services', s), { recursive: true });
    for (const f of ['package.json']) cpSync(join(ROOT, 'services', s, f), join(tmp, 'services', s, f));
  }
  made = generate(tmp, NAME, '--grpc-port', '50070', '--http-port', '9470');
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the generator succeeds and the new folder is a service', () => {
  expect({ status: made.status, stderr: made.stderr }).toEqual({ status: 0, stderr: '' });
  expect(servicesOnDisk(tmp)).toEqual([...services, NAME].sort());
  expect(JSON.parse(readFileSync(join(tmp, 'services', NAME, 'package.json'), 'utf8')).name).toBe(`@parley/${NAME}-service`);
});

test('it is a skaffold artifact wired into the chart, a chart template, a values block and an image build', () => {
  const all = servicesOnDisk(tmp);
  const problems = wiringProblems({
    services: all,
    skaffold: loadSkaffold(join(tmp, 'skaffold.yaml')),
    templates: serviceTemplates(join(tmp, 'charts', 'parley')),
    values: loadValues(join(tmp, 'charts', 'parley', 'values.yaml')),
    images: imageBuilds(tmp),
  });
  expect(problems).toEqual([]);
  expect(JSON.parse(readFileSync(join(tmp, 'tsconfig.json'), 'utf8')).references).toContainEqual({ path: `services/${NAME}` });
});

test('its Deployment env and ports match its config.ts, and the other services are unchanged', async () => {
  ensureTools();
  const chart = join(tmp, 'charts', 'parley');
  const objects: K8sObject[] = render(chart, []).objects;
  const values = loadValues(join(chart, 'values.yaml'));
  const spec = await loadEnvSpec(NAME, tmp);
  expect(spec.names).toEqual(expect.arrayContaining(['LEDGER_GRPC_PORT', 'LEDGER_HTTP_PORT', 'LEDGER_HOST']));
  expect(envProblems(NAME, spec, objects, values)).toEqual([]);
  for (const s of services) expect({ s, problems: envProblems(s, await loadEnvSpec(s), objects, values) }).toEqual({ s, problems: [] });
  // A mesh identity and an ingress policy of its own.
  expect(objects.some((o) => o.kind === 'NetworkPolicy' && o.metadata.name === `parley-${NAME}`)).toBe(true);
}, 900_000);

test('its image is built by the one Dockerfile every service shares (images.test.ts), for its own name', () => {
  expect(existsSync(join(tmp, 'services', NAME, 'Dockerfile'))).toBe(false);
  expect(imageBuilds(tmp)).toContain(NAME);
  expect(loadSkaffold(join(tmp, 'skaffold.yaml')).build.artifacts).toContainEqual({ image: NAME, context: '.', docker: { dockerfile: 'Dockerfile', buildArgs: { SERVICE: NAME } } });
  expect(readFileSync(join(tmp, 'Dockerfile'), 'utf8')).toBe(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
});

test('it refuses a service that exists and a port that is taken, changing nothing', () => {
  const before = readFileSync(join(tmp, 'skaffold.yaml'), 'utf8');
  const again = generate(tmp, NAME, '--grpc-port', '50071', '--http-port', '9471');
  expect(again.status).toBe(2);
  expect(again.stderr).toMatch(/services\/ledger exists/);
  const taken = generate(tmp, 'audit', '--grpc-port', '50052', '--http-port', '9472');
  expect(taken.status).toBe(2);
  expect(taken.stderr).toMatch(/port 50052 is taken/);
  expect(readFileSync(join(tmp, 'skaffold.yaml'), 'utf8')).toBe(before);
});
