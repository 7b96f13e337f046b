#!/usr/bin/env node
// Fails when packages/proto/src is not what proto/ generates (a .proto changed without `pnpm gen`).
// Usage: node scripts/check-gen.mjs [protoDir] [committedDir]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, existsSync, rmSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = resolve(process.argv[2] ?? join(root, 'proto'));
const committed = resolve(process.argv[3] ?? join(root, 'packages/proto/src'));
const fresh = mkdtempSync(join(tmpdir(), 'parley-check-'));
execFileSync(process.execPath, [join(root, 'scripts/gen-proto.mjs'), fresh, protoDir], { stdio: ['ignore', 'ignore', 'inherit'] });

const list = (d) => {
  const out = [];
  const walk = (x) => { for (const f of readdirSync(x)) { const p = join(x, f); if (statSync(p).isDirectory()) walk(p); else out.push(relative(d, p)); } };
  if (existsSync(d)) walk(d);
  return out.sort();
};
const a = list(fresh), b = list(committed);
const problems = [];
for (const f of a) {
  if (!b.includes(f)) problems.push(`missing: ${f}`);
  else if (readFileSync(join(fresh, f), 'utf8') !== readFileSync(join(committed, f), 'utf8')) problems.push(`differs: ${f}`);
}
for (const f of b) if (!a.includes(f)) problems.push(`stale: ${f}`);
rmSync(fresh, { recursive: true, force: true });
if (problems.length) {
  console.error(`generated code is out of date (run \`pnpm gen\`):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`generated code is current (${a.length} files)`);
