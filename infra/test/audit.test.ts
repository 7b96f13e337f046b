// scripts/audit.mjs (the dependency audit step of `./parley test`) against canned `pnpm audit --json`
// reports, through a stand-in `pnpm` on PATH: unlisted high/critical advisories fail, listed ones (with a
// reason) pass, and an unreachable advisory endpoint is reported as not performed.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const script = join(__dirname, '..', '..', 'scripts', 'audit.mjs');

function audit(report: unknown, exceptions: unknown[] = [], env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'audit-'));
  writeFileSync(join(dir, 'report.json'), typeof report === 'string' ? report : JSON.stringify(report));
  writeFileSync(join(dir, 'pnpm'), `#!/bin/sh\ncat "${join(dir, 'report.json')}"\n[ -n "$AUDIT_FAIL" ] && exit 1\nexit 0\n`);
  chmodSync(join(dir, 'pnpm'), 0o755);
  writeFileSync(join(dir, 'exceptions.json'), JSON.stringify({ exceptions }));
  const r = spawnSync(process.execPath, [script], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, PARLEY_AUDIT_EXCEPTIONS: join(dir, 'exceptions.json'), ...env },
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

const advisory = (id: string, severity: string) => ({
  id: 1,
  github_advisory_id: id,
  severity,
  module_name: 'left-pad',
  title: 'something bad',
  url: `https://github.com/advisories/${id}`,
  findings: [{ paths: ['services/gateway > left-pad'] }],
});
const report = (...advisories: ReturnType<typeof advisory>[]) => ({
  advisories: Object.fromEntries(advisories.map((a, i) => [String(i), a])),
  metadata: { vulnerabilities: { critical: 0, high: advisories.length, moderate: 0, low: 0 }, totalDependencies: 500 },
});

it('passes with no high or critical advisories (moderate ones are reported, not fatal)', () => {
  const r = audit(report(advisory('GHSA-mod', 'moderate')));
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/\[audit\] 500 dependencies/);
});

it('fails on an unlisted high advisory and names it', () => {
  const r = audit(report(advisory('GHSA-aaaa-bbbb-cccc', 'high')));
  expect(r.code).toBe(1);
  expect(r.out).toMatch(/high GHSA-aaaa-bbbb-cccc in left-pad/);
});

it('passes when the advisory is listed with a reason; an entry without a reason is refused', () => {
  expect(audit(report(advisory('GHSA-aaaa-bbbb-cccc', 'critical')), [{ id: 'GHSA-aaaa-bbbb-cccc', reason: 'only the dev server uses it' }]).code).toBe(0);
  expect(audit(report(advisory('GHSA-aaaa-bbbb-cccc', 'critical')), [{ id: 'GHSA-aaaa-bbbb-cccc' }]).code).not.toBe(0);
});

it('an unreachable advisory endpoint is "NOT performed" (fatal with PARLEY_AUDIT_REQUIRED=1)', () => {
  const bad = JSON.stringify({ error: { code: 'ERR_PNPM_AUDIT_BAD_RESPONSE', message: 'The audit endpoint responded with 405' } });
  const r = audit(bad, [], { AUDIT_FAIL: '1' });
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/NOT performed.*405/);
  expect(audit(bad, [], { AUDIT_FAIL: '1', PARLEY_AUDIT_REQUIRED: '1' }).code).toBe(1);
});
