#!/usr/bin/env node
// Adds a service to the repository from scripts/service-template (docs/architecture.md, "Adding a service"):
//   node scripts/new-service.mjs <name> --grpc-port <port> --http-port <port> [--root <dir>]
// It writes services/<name> (the template with tmplsvc/Tmplsvc/TMPLSVC and its ports replaced), the chart's
// templates/<name>.yaml and values block, the skaffold artifact and the image values skaffold hands the chart,
// the TypeScript project reference, and the chart's lists of mesh identities and network policies: everything
// charts/test/wiring.test.ts, env.test.ts and skaffold.test.ts check for every folder of services/. Then:
// `pnpm install` (the new workspace package), `./parley build`, and the steps it prints.
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const usage = 'usage: node scripts/new-service.mjs <name: [a-z][a-z0-9]*> --grpc-port <port> --http-port <port> [--root <repo>]';

function fail(msg) {
  console.error(`new-service: ${msg}`);
  process.exit(2);
}

function parseArgs(argv) {
  const out = { root: resolve(dirname(fileURLToPath(import.meta.url)), '..') };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--grpc-port' || a === '--http-port' || a === '--root') {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value\n${usage}`);
      if (a === '--root') out.root = resolve(v);
      else out[a === '--grpc-port' ? 'grpcPort' : 'httpPort'] = Number(v);
    } else rest.push(a);
  }
  if (rest.length !== 1) fail(usage);
  out.name = rest[0];
  return out;
}

/** Replaces `before` (which must occur exactly `count` times, default once) in `text`. */
function replaceOnce(file, text, before, after, count = 1) {
  const n = text.split(before).length - 1;
  if (n !== count) fail(`${file}: expected ${count} occurrence(s) of ${JSON.stringify(before)}, found ${n}; edit it by hand`);
  return text.split(before).join(after);
}

function edit(root, rel, fn) {
  const file = join(root, rel);
  const text = readFileSync(file, 'utf8');
  const next = fn(text, rel);
  if (next !== text) writeFileSync(file, next);
  return rel;
}

export function newService({ root, name, grpcPort, httpPort }) {
  if (!/^[a-z][a-z0-9]*$/.test(name ?? '')) fail(`the name must match [a-z][a-z0-9]* (it is a values key, an env prefix and a DNS label)\n${usage}`);
  for (const [k, p] of [['--grpc-port', grpcPort], ['--http-port', httpPort]]) if (!(Number.isInteger(p) && p > 0 && p < 65536)) fail(`${k} must be a port number\n${usage}`);
  const dest = join(root, 'services', name);
  if (existsSync(dest)) fail(`services/${name} exists`);
  const values = readFileSync(join(root, 'charts/parley/values.yaml'), 'utf8');
  if (new RegExp(`^${name}:`, 'm').test(values)) fail(`charts/parley/values.yaml already has a ${name} block`);
  for (const p of [grpcPort, httpPort]) if (new RegExp(`\\b(grpc|http): ${p}\\b`).test(values)) fail(`port ${p} is taken in charts/parley/values.yaml`);

  const Name = name[0].toUpperCase() + name.slice(1);
  const PREFIX = name.toUpperCase();
  const subst = (s) => s.replaceAll('tmplsvc', name).replaceAll('Tmplsvc', Name).replaceAll('TMPLSVC', PREFIX).replaceAll('50099', String(grpcPort)).replaceAll('9499', String(httpPort));
  const changed = [];

  // 1. services/<name>: the template, substituted.
  cpSync(join(root, 'scripts', 'service-template'), dest, { recursive: true });
  const walk = (dir) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else {
        writeFileSync(p, subst(readFileSync(p, 'utf8')));
        if (e.endsWith('.tmpl')) renameSync(p, p.slice(0, -'.tmpl'.length));
      }
    }
  };
  walk(dest);
  changed.push(`services/${name}/`);

  // 2. The chart: a template (one workload through parley.workload) and a values block.
  writeFileSync(
    join(root, 'charts/parley/templates', `${name}.yaml`),
    `{{- /* The ${name} service (made by scripts/new-service.mjs; docs/architecture.md). Shared objects come from "parley.workload" in _helpers.tpl.
"stores": what it connects to (cassandra, redis, kafka, minio); "calls": the services whose gRPC it calls (each gets ${PREFIX}_<SERVICE>_ADDR). */}}
{{- $svc := dict "name" "${name}" "kind" "grpc" "stores" (list) "calls" (list) "waitForSchema" false -}}
{{ include "parley.workload" (dict "root" . "svc" $svc) }}
`,
  );
  changed.push(`charts/parley/templates/${name}.yaml`);
  const block = `${name}:
  enabled: true
  replicas: 2
  image: {repository: "", tag: "", digest: ""}
  ports: {grpc: ${grpcPort}, http: ${httpPort}}
  resources:
    requests: {cpu: 100m, memory: 128Mi}
    limits: {memory: 256Mi}
  env: {}
  extraEnv: []
  nodeSelector: {}
  tolerations: []
  affinity: {}
  podAntiAffinity: soft
  topologySpreadConstraints: []
  podAnnotations: {}
  drainSeconds: 25
  terminationGracePeriodSeconds: null
  pdb: {enabled: true, maxUnavailable: 1}
  autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 10, targetCPUUtilizationPercentage: 70}

`;
  const infraHeader = '# ---------------------------------------------------------------------------------------------\n# In-cluster single-node infrastructure';
  changed.push(edit(root, 'charts/parley/values.yaml', (t, f) => replaceOnce(f, t, infraHeader, block + infraHeader)));

  // 3. The chart's lists of services: mesh identities (every gRPC server and client has one) and ingress
  //    policies (nobody may call the new service until a template's "calls" names it).
  changed.push(
    edit(root, 'charts/parley/templates/shared/mesh-tls.yaml', (t, f) => {
      const m = t.match(/range \$svc := list "gateway"((?: "[a-z0-9]+")*) \}\}/);
      if (!m) fail(`${f}: the identity list (range $svc := list "gateway" ...) was not found; edit it by hand`);
      return t.replace(m[0], `range $svc := list "gateway"${m[1]} "${name}" }}`);
    }),
  );
  changed.push(
    edit(root, 'charts/parley/templates/shared/networkpolicy.yaml', (t, f) => {
      const m = t.match(/\{\{- range \$svc := list "session"((?: "[a-z0-9]+")*) \}\}/);
      if (!m) fail(`${f}: the policy list (range $svc := list "session" ...) was not found; edit it by hand`);
      let next = t.replace(m[0], `{{- range $svc := list "session"${m[1]} "${name}" }}`);
      next = replaceOnce(f, next, ' "session" (list) -}}', ` "session" (list) "${name}" (list) -}}`);
      return next;
    }),
  );

  // 4. skaffold: the artifact and the two image values it sets on the release.
  changed.push(
    edit(root, 'skaffold.yaml', (t, f) => {
      const artifacts = [...t.matchAll(/^ {4}- image: .*\n {6}context: \.\n {6}docker: \{dockerfile: Dockerfile, buildArgs: \{SERVICE: [a-z0-9]+\}\}\n/gm)];
      if (artifacts.length === 0) fail(`${f}: no artifacts found; edit it by hand`);
      const last = artifacts[artifacts.length - 1];
      const at = last.index + last[0].length;
      let next = `${t.slice(0, at)}    - image: ${name}\n      context: .\n      docker: {dockerfile: Dockerfile, buildArgs: {SERVICE: ${name}}}\n${t.slice(at)}`;
      const tags = [...next.matchAll(/^ {10}[a-z0-9]+\.image\.tag: .*\n/gm)];
      if (tags.length === 0) fail(`${f}: no setValueTemplates found; edit it by hand`);
      const lt = tags[tags.length - 1];
      const at2 = lt.index + lt[0].length;
      next = `${next.slice(0, at2)}          ${name}.image.repository: "{{.IMAGE_REPO_${name}}}"\n          ${name}.image.tag: "{{.IMAGE_TAG_${name}}}@{{.IMAGE_DIGEST_${name}}}"\n${next.slice(at2)}`;
      return next;
    }),
  );

  // 5. The TypeScript build.
  changed.push(edit(root, 'tsconfig.json', (t, f) => replaceOnce(f, t, '{ "path": "bench" }', `{ "path": "services/${name}" },\n    { "path": "bench" }`)));
  return changed;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const changed = newService(args);
  console.log(`new-service: ${args.name} written:\n  ${changed.join('\n  ')}`);
  console.log(`next, by hand:
  1. pnpm install                       (the new workspace package @parley/${args.name}-service)
  2. its proto: proto/parley/${args.name}/v1/${args.name}.proto, pnpm gen; serve it in src/wiring.ts (api/grpc/)
  3. callers: add "${args.name}" to the "calls" of the templates that call it (charts/parley/templates/*.yaml) and
     read <CALLER>_${args.name.toUpperCase()}_ADDR in their config.ts; stores: its template's "stores" and infraEnv in config.ts
  4. local mesh and e2e: packages/testing/src/mesh.ts (BACKEND_SERVICES, DEFAULT_PORTS) and pki.ts (MESH_NAMES)
  5. Cassandra migrations (if it owns tables): migrations/, a migrate command in main.ts, and the chart's
     migrating services (_helpers.tpl parley.migratingServices, parley.schemaGeneration, shared/rbac.yaml)
  6. charts/test/wiring.test.ts names the services of the design: add it there; docs/architecture.md: its row
  7. ./parley build && pnpm exec jest --selectProjects unit`);
}
