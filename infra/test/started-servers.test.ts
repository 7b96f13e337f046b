// `./parley test` stops the infra servers it started and keeps those already running (issue 15), through
// infra/lib/started-servers.sh against a stand-in parley-infra that records its calls.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const lib = join(__dirname, '..', 'lib', 'started-servers.sh');

function fakeInfra(healthy: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'infra-'));
  writeFileSync(join(dir, 'healthy'), healthy.join('\n') + '\n');
  const bin = join(dir, 'parley-infra');
  writeFileSync(
    bin,
    `#!/bin/bash
D="${dir}"
case "$1" in
  status) for n in redis kafka cassandra minio; do if grep -qx "$n" "$D/healthy"; then echo "$n      healthy  pid=1 port=1"; else echo "$n      down"; fi; done ;;
  stop) shift; echo "stop $*" >> "$D/calls"; for n in "$@"; do sed -i "/^$n$/d" "$D/healthy"; done ;;
  start) printf 'redis\\nkafka\\ncassandra\\nminio\\n' > "$D/healthy" ;;
esac
`,
  );
  chmodSync(bin, 0o755);
  return { bin, calls: () => { try { return readFileSync(join(dir, 'calls'), 'utf8'); } catch { return ''; } } };
}

function run(script: string, env: Record<string, string> = {}) {
  const r = spawnSync('bash', ['-c', `. "${lib}"; ${script}`], { encoding: 'utf8', env: { ...process.env, ...env } });
  return r.stdout;
}

it('stops only what this run started and says what still runs', () => {
  const f = fakeInfra(['redis', 'cassandra']);
  const out = run(`before=$(healthy_servers "${f.bin}"); "${f.bin}" start; stop_started_servers "${f.bin}" "$before"`);
  expect(f.calls()).toBe('stop kafka minio\n');
  expect(out).toMatch(/stopping the servers this run started: kafka minio/);
  expect(out).toMatch(/still running: redis cassandra .*\.\/parley infra stop/);
});

it('stops everything when nothing was running before; PARLEY_KEEP_SERVERS=1 keeps them', () => {
  const a = fakeInfra([]);
  expect(run(`"${a.bin}" start; stop_started_servers "${a.bin}" ""`)).toMatch(/no infra servers left running/);
  expect(a.calls()).toBe('stop redis kafka cassandra minio\n');
  const b = fakeInfra([]);
  expect(run(`"${b.bin}" start; stop_started_servers "${b.bin}" ""`, { PARLEY_KEEP_SERVERS: '1' })).toMatch(/still running: redis kafka cassandra minio/);
  expect(b.calls()).toBe('');
});
