// skaffold.yaml validates against the skaffold/v4beta14 JSON schema (../shared/schemas, draft-07) with
// ajv, since skaffold itself cannot run here; plus the dev/production profiles the chart relies on.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsImport from 'ajv-formats';
import { parse } from 'yaml';
import { CHART, ROOT, loadSkaffold, type Obj } from './lib.js';

// The shared schema lives beside the repository (../shared/schemas); PARLEY_SKAFFOLD_SCHEMA overrides.
// ajv-formats is CommonJS: the plugin is its default export under jest/SWC, module.exports.default under Node ESM.
const addFormats = ((addFormatsImport as unknown as { default?: unknown }).default ?? addFormatsImport) as unknown as (ajv: Ajv) => Ajv;

// A verbatim copy is vendored in charts/test/schemas for checkouts without ../shared (a test below keeps it
// identical to the shared one whenever that is present).
const SHARED_SCHEMA = resolve(ROOT, '..', 'shared', 'schemas', 'skaffold-v4beta14.json');
const VENDORED_SCHEMA = resolve(ROOT, 'charts', 'test', 'schemas', 'skaffold-v4beta14.json');
const SCHEMA = process.env.PARLEY_SKAFFOLD_SCHEMA || (existsSync(SHARED_SCHEMA) ? SHARED_SCHEMA : VENDORED_SCHEMA);

function validator() {
  if (!existsSync(SCHEMA)) throw new Error(`skaffold schema not found at ${SCHEMA} (set PARLEY_SKAFFOLD_SCHEMA)`);
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')));
}

test('skaffold.yaml is apiVersion skaffold/v4beta14 and valid against its schema', () => {
  const doc = loadSkaffold();
  expect(doc.apiVersion).toBe('skaffold/v4beta14');
  const validate = validator();
  expect(validate(doc) ? [] : validate.errors).toEqual([]);
});

test('the vendored schema is the shared one, byte for byte (when ../shared is present)', () => {
  expect(existsSync(VENDORED_SCHEMA)).toBe(true);
  if (existsSync(SHARED_SCHEMA)) expect(readFileSync(VENDORED_SCHEMA, 'utf8')).toBe(readFileSync(SHARED_SCHEMA, 'utf8'));
});

test('the schema check can fail: an unknown field, a wrong type, a misspelled profile key', () => {
  const validate = validator();
  const base = () => loadSkaffold();
  const bad1 = base();
  bad1.build.artifacts[0].docker.dockerFile = 'x'; // wrong case
  const bad2 = base();
  bad2.deploy.helm.releases[0].valuesFiles = 'charts/parley/values.yaml'; // must be a list
  const bad3 = base();
  bad3.profiles[0].portforward = bad3.profiles[0].portForward;
  for (const bad of [bad1, bad2, bad3]) expect(validate(bad)).toBe(false);
});

test('profiles: dev (auto-activated by `skaffold dev`, in-cluster infra, gateway port-forwarded) and production', () => {
  const doc = loadSkaffold();
  const profile = (n: string): Obj => doc.profiles.find((p: Obj) => p.name === n);
  const valuesFilesOf = (p: Obj): string[] => p.patches.find((x: Obj) => x.path === '/deploy/helm/releases/0/valuesFiles').value;
  const dev = profile('dev');
  expect(dev.activation).toEqual([{ command: 'dev' }]);
  expect(valuesFilesOf(dev)).toEqual(['charts/parley/values.yaml', 'charts/parley/values-dev.yaml']);
  expect(parse(readFileSync(join(CHART, 'values-dev.yaml'), 'utf8')).infra.enabled).toBe(true);
  expect(dev.portForward).toContainEqual(expect.objectContaining({ resourceType: 'service', resourceName: 'parley-gateway', port: 8080 }));
  // The forwarded port is the gateway Service's port in dev.
  expect(parse(readFileSync(join(CHART, 'values-dev.yaml'), 'utf8')).gateway.service.port).toBe(8080);
  const prod = profile('production');
  expect(valuesFilesOf(prod)).toEqual(['charts/parley/values.yaml', 'charts/parley/values-production.yaml']);
  expect(parse(readFileSync(join(CHART, 'values-production.yaml'), 'utf8')).infra.enabled).toBe(false);
  for (const p of [dev, prod]) {
    for (const f of valuesFilesOf(p)) expect(existsSync(join(ROOT, f))).toBe(true);
  }
  expect(doc.deploy.helm.releases[0].name).toBe('parley'); // port-forward names assume fullname "parley"
});
