// The service images, checked without a Docker engine: the one Dockerfile every service shares goes through
// BuildKit's own Dockerfile frontend and linter (charts/scripts/dockerfile-check, what `docker build --check`
// runs) once per service (--build-arg SERVICE), and the properties the images promise are asserted on the
// Dockerfile and .dockerignore.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOCKERFILE, DOCKERFILE_CHECK, ROOT, ensureTools, run, servicesOnDisk } from './lib.js';

const services = servicesOnDisk();
const dockerfile = () => readFileSync(DOCKERFILE, 'utf8');

beforeAll(() => ensureTools(), 900_000);

function check(files: string[], buildArgs: string[] = []) {
  const r = run(DOCKERFILE_CHECK, [...buildArgs.flatMap((a) => ['--build-arg', a]), ...files]);
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

test('the Dockerfile passes BuildKit\'s parser and lint rules for every service, and pulls only the pinned Node base', () => {
  const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile())![1]!;
  for (const s of services) {
    const r = check([DOCKERFILE], [`SERVICE=${s}`]);
    expect({ s, out: r.out }).not.toEqual({ s, out: expect.stringMatching(/ERROR|:\d+: [A-Z][A-Za-z]+: /) });
    expect({ s, ok: r.ok }).toEqual({ s, ok: true });
    const imageLines = r.out.split('\n').filter((l) => l.includes(': images: '));
    expect(imageLines).toHaveLength(1);
    expect(new Set(imageLines[0]!.split(': images: ')[1]!.trim().split(' '))).toEqual(new Set([`docker.io/library/${base}`]));
    expect(r.out.split('\n').filter((l) => l.endsWith(': ok'))).toHaveLength(1);
  }
});

test('the Dockerfile check can fail', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-dockerfile-'));
  const bad = join(dir, 'Dockerfile');
  writeFileSync(bad, dockerfile().replace('FROM deps AS build', 'from deps as build').replace('COPY --from=deploy /out /app', 'COPY --from=deploy-typo /out /app'));
  const r = check([bad]);
  expect(r.ok).toBe(false);
  expect(r.out).toMatch(/FromAsCasing|ConsistentInstructionCasing/);
  expect(r.out).toMatch(/deploy-typo/); // a typo'd stage becomes an image pull: reported
  for (const broken of ['FROM node:24\nCOPY only-one-argument\n', 'FROM node:24\nRUNN echo hi\n', 'FROM node:24 AS a\nFROM node:24 AS a\n']) {
    writeFileSync(bad, broken);
    expect({ broken, ok: check([bad]).ok }).toEqual({ broken, ok: false });
  }
  rmSync(dir, { recursive: true, force: true });
});

test('one Dockerfile builds every service: SERVICE is a required build arg, declared after the shared stages', () => {
  const text = dockerfile();
  expect(text.match(/^ARG SERVICE.*$/gm)).toEqual(['ARG SERVICE', 'ARG SERVICE']); // no default image
  expect(text.indexOf('ARG SERVICE')).toBeGreaterThan(text.indexOf('FROM build AS deploy')); // deps/build/rootfs are the same for all
  expect(text).toMatch(/test -n "\$\{SERVICE\}" -a -f "services\/\$\{SERVICE\}\/package\.json" \|\|/);
  for (const s of services) {
    expect(existsSync(join(ROOT, 'services', s, 'Dockerfile'))).toBe(false); // no per-service copy to drift
    expect(JSON.parse(readFileSync(join(ROOT, 'services', s, 'package.json'), 'utf8')).name).toBe(`@parley/${s}-service`);
  }
});

describe('image properties', () => {
  const text = dockerfile();
  const stages = text.split(/^FROM /m).slice(1);
  const runtime = stages[stages.length - 1]!;

  test('a current Node LTS base pinned by exact version (or digest)', () => {
    const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)![1]!;
    expect(base).toMatch(/^node:(\d+)\.\d+\.\d+-[a-z]+-slim(@sha256:[0-9a-f]{64})?$|^node@sha256:[0-9a-f]{64}$/);
    const major = Number(/^node:(\d+)/.exec(base)?.[1] ?? 24);
    expect(major % 2).toBe(0); // even majors are the LTS lines
    expect(major).toBeGreaterThanOrEqual(24);
  });

  test('multi-stage: install (pnpm fetch + offline frozen install), build (tsc --build of the service), pnpm deploy --prod', () => {
    expect(stages.length).toBeGreaterThanOrEqual(4);
    expect(text).toMatch(/pnpm fetch/);
    expect(text).toMatch(/pnpm install --offline --frozen-lockfile/);
    expect(text).toMatch(/pnpm exec tsc --build "services\/\$\{SERVICE\}"/);
    expect(text).toMatch(/pnpm --filter "@parley\/\$\{SERVICE\}-service" --prod .*deploy \/out/);
  });

  test('the final stage: scratch + the shared root filesystem + the deployed service, non-root, tini as PID 1', () => {
    expect(runtime).toMatch(/^scratch AS runtime/);
    expect(runtime.match(/^COPY .*/gm)).toEqual(['COPY --from=rootfs /rootfs /', 'COPY --from=deploy /out /app']);
    expect(runtime).not.toMatch(/^RUN /m); // nothing runs in it: there is no shell
    expect(runtime).toMatch(/^USER 1000:1000$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", .*"dist\/main\.js"\]$/m);
    expect(runtime).toMatch(/NODE_ENV=production/);
  });

  test('the root filesystem stage copies only node, the libraries it links, tini and a few /etc files (no shell, no npm)', () => {
    const rootfs = stages.find((st) => /^\$\{NODE_IMAGE\} AS rootfs$/m.test(st))!;
    expect(rootfs).toBeDefined();
    const copies = rootfs.match(/\bcp [^;]*/g)!.map((c) => c.trim());
    expect(copies).toEqual([
      'cp "$node" "$r/usr/local/bin/node"',
      'cp "$(command -v tini-static)" "$r/usr/bin/tini"',
      'cp --parents -L "$lib" "$r"',
      'cp --parents -L "$libdir/$l" "$r"',
      'cp "/usr/share/doc/$p/copyright" "$r/usr/share/doc/$p/"',
      'cp "$f" "$r/usr/share/doc/node/LICENSE"',
      'cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"',
    ]);
    expect(rootfs).toMatch(/for lib in \$\(ldd "\$node"/);
    expect(rootfs).toMatch(/chroot "\$r" \/usr\/local\/bin\/node -e/); // the copied tree runs node on its own
  });

  test('the deployed tree is pruned of what never runs (types, TypeScript, dependency source maps, docs, tests)', () => {
    const deploy = stages.find((st) => /^build AS deploy$/m.test(st))!;
    for (const pattern of ["-name '*.d.ts'", "-name '*.ts'", "-name '*.map' -type f ! -path '*/.pnpm/@parley+*'", '@types+*', '(test|tests|__tests__|docs|doc|example|examples|benchmark|benchmarks']) {
      expect(deploy).toContain(pattern);
    }
  });

  test('the web client: built once in the shared build stage, shipped only in the gateway image (its @parley/web dependency)', () => {
    const build = stages.find((st) => st.startsWith('deps AS build'))!;
    // @parley/client is what the bundle imports; no service references it, so the build stage builds it
    expect(build).toMatch(/pnpm exec tsc --build services\/\*\/ packages\/client/);
    expect(build).toMatch(/pnpm --filter @parley\/web run build/);
    const pkg = (dir: string) => JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as { files?: string[]; dependencies?: Record<string, string> };
    const web = pkg('web');
    expect(web.files).toEqual(['dist']); // what `pnpm deploy` copies into node_modules/@parley/web
    expect(web.dependencies ?? {}).toEqual({}); // all bundled: nothing of it runs in the gateway but static files
    for (const s of services) expect({ s, web: pkg(`services/${s}`).dependencies?.['@parley/web'] }).toEqual({ s, web: s === 'gateway' ? 'workspace:^' : undefined });
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const kept of ['!web/package.json', '!web/index.html', '!web/tsconfig.json', '!web/vite.config.ts', '!web/src', '!web/public']) expect(ignore).toContain(kept);
    expect(ignore.indexOf('!web/src')).toBeGreaterThan(ignore.indexOf('web/*')); // a later line wins
  });

  test('.dockerignore keeps caches, run data and node_modules out, and nothing the build needs', () => {
    const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const must of ['**/node_modules', '**/dist', '.git', '.run', '**/*.tsbuildinfo', '.cache', '**/coverage']) expect(lines).toContain(must);
    for (const needed of ['pnpm-lock.yaml', 'pnpm-workspace.yaml', '.npmrc', 'package.json', 'packages', 'services', 'tsconfig.json', 'tsconfig.base.json', 'proto']) {
      expect(lines).not.toContain(needed);
    }
  });
});
