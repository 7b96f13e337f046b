#!/usr/bin/env node
// Dependency audit (issue 15), run by `./parley test`: `pnpm audit --json`, then every high or critical
// advisory must either be gone or be listed in audit-exceptions.json with the reason it does not apply.
// Exit 1 on any unlisted one. If the advisory endpoint cannot be reached (offline, or a registry mirror
// without the audit API) the audit is reported as NOT performed; with PARLEY_AUDIT_REQUIRED=1 that fails too.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The high/critical advisories of a `pnpm audit --json` report that no exception covers. */
export function unexcused(report, exceptions) {
  const allowed = new Map(exceptions.map((e) => [e.id, e]));
  const out = [];
  for (const a of Object.values(report.advisories ?? {})) {
    if (a.severity !== 'high' && a.severity !== 'critical') continue;
    const id = a.github_advisory_id ?? String(a.id);
    if (allowed.has(id)) continue;
    out.push({ id, severity: a.severity, module: a.module_name, title: a.title, url: a.url, paths: (a.findings ?? []).flatMap((f) => f.paths ?? []).slice(0, 3) });
  }
  return out;
}

function main() {
  const exceptions = JSON.parse(readFileSync(process.env.PARLEY_AUDIT_EXCEPTIONS ?? join(ROOT, 'audit-exceptions.json'), 'utf8')).exceptions;
  for (const e of exceptions) if (!e.id || !e.reason) throw new Error(`audit-exceptions.json: every exception needs an id and a reason (${JSON.stringify(e)})`);
  const r = spawnSync('pnpm', ['audit', '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  let report;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    report = undefined;
  }
  if (!report || report.error || !report.metadata) {
    const why = (report?.error?.message ?? `${r.stdout}${r.stderr}`).trim().split('\n')[0] || `pnpm audit exited ${r.status}`;
    console.log(`[audit] NOT performed: the advisory endpoint could not be used (${why})`);
    process.exit(process.env.PARLEY_AUDIT_REQUIRED === '1' ? 1 : 0);
  }
  const v = report.metadata.vulnerabilities ?? {};
  const bad = unexcused(report, exceptions);
  console.log(`[audit] ${report.metadata.totalDependencies ?? '?'} dependencies; advisories: critical ${v.critical ?? 0}, high ${v.high ?? 0}, moderate ${v.moderate ?? 0}, low ${v.low ?? 0}; excused by audit-exceptions.json: ${exceptions.length}`);
  for (const b of bad) console.log(`[audit] ${b.severity} ${b.id} in ${b.module}: ${b.title} ${b.url ?? ''}\n        via ${b.paths.join(', ')}`);
  if (bad.length > 0) {
    console.log(`[audit] ${bad.length} high/critical advisories are neither fixed nor listed (with why they do not apply) in audit-exceptions.json`);
    process.exit(1);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
