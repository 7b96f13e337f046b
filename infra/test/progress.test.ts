// Long first-run steps are never silent (issue 15): with_progress (infra/lib/progress.sh, used by
// parley-infra for the MinIO build, the Maven jar fetches and apt) prints the phase, the elapsed time and
// the log to follow while the step runs, and passes the step's exit code through.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const lib = join(__dirname, '..', 'lib', 'progress.sh');

function run(script: string) {
  const r = spawnSync('bash', ['-c', `. "${lib}"; ${script}`], { encoding: 'utf8', env: { ...process.env, PARLEY_PROGRESS_INTERVAL: '1' }, timeout: 30_000 });
  return { code: r.status, out: r.stdout };
}

it('prints phase, elapsed time and log path while a step runs; the step output goes to its log', () => {
  const log = join(mkdtempSync(join(tmpdir(), 'progress-')), 'step.log');
  const r = run(`with_progress "minio: go build" "${log}" bash -c 'echo building; sleep 3.5'`);
  expect(r.code).toBe(0);
  const lines = r.out.trim().split('\n');
  expect(lines.length).toBeGreaterThanOrEqual(2);
  for (const l of lines) expect(l).toMatch(new RegExp(`^\\[infra\\] minio: go build: still running, \\d+s elapsed \\(follow: tail -f ${log.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)$`));
  expect(readFileSync(log, 'utf8')).toBe('building\n');
});

it('passes the exit code through and prints nothing for a quick step', () => {
  const log = join(mkdtempSync(join(tmpdir(), 'progress-')), 'step.log');
  const r = run(`with_progress quick "${log}" bash -c 'exit 7'`);
  expect(r.code).toBe(7);
  expect(r.out).toBe('');
});
