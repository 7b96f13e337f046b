// The init-container scripts the chart inlines (charts/parley/files), run exactly as rendered:
// wait-for-servers (TCP) in the schema Job, and wait-for-schema in the service pods, against a fake
// Kubernetes API server (HTTPS with a throwaway CA, bearer token, the Job's generation annotation).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHART, byKindName, ensureTools, fullname, render, type Obj } from './lib.js';

let objects: Obj[];
beforeAll(() => {
  ensureTools();
  objects = render(CHART, []).objects;
}, 900_000);

/** Runs a rendered container command with this node; resolves with the exit code and output. */
function runCommand(command: string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  expect(command[0]).toBe('node');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, command.slice(1), { env: { PATH: process.env.PATH ?? '', ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const listen = (srv: Server) => new Promise<number>((ok) => srv.listen(0, '127.0.0.1', () => ok((srv.address() as AddressInfo).port)));

test('wait-for-servers waits until every host:port accepts connections', async () => {
  const job = objects.find((o) => o.kind === 'Job')! as Obj;
  const init = job.spec.template.spec.initContainers.find((c: Obj) => c.name === 'wait-for-servers');
  expect(init.command.slice(-2)).toEqual(['parley-cassandra:9042', 'parley-kafka-0.parley-kafka-headless.parley.svc:9092']);
  const up = createTcpServer((s) => s.end());
  const upPort = await listen(up);
  // A second port that only starts listening after 2.5 s.
  const late = createTcpServer((s) => s.end());
  const latePort = await listen(late);
  late.close();
  setTimeout(() => late.listen(latePort, '127.0.0.1'), 2500);
  const t0 = Date.now();
  const r = await runCommand([...init.command.slice(0, -2), `127.0.0.1:${upPort}`, `127.0.0.1:${latePort}`], {}, 20_000);
  up.close();
  late.close();
  expect(r.out).toContain(`127.0.0.1:${latePort} is up`);
  expect(r.code).toBe(0);
  expect(Date.now() - t0).toBeGreaterThan(2000);
}, 30_000);

test('wait-for-schema passes only once the Job of this schema generation has succeeded', async () => {
  const dep = byKindName(objects, 'Deployment', fullname('message'));
  const init = dep.spec.template.spec.initContainers.find((c: Obj) => c.name === 'wait-for-schema');
  const [jobName, generation] = init.command.slice(-2);
  // A throwaway self-signed certificate for 127.0.0.1 serves as the API server's cert and the service account's ca.crt.
  const dir = mkdtempSync(join(tmpdir(), 'parley-sa-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.crt')], { stdio: 'ignore' });
  writeFileSync(join(dir, 'token'), 'test-token');
  writeFileSync(join(dir, 'namespace'), 'parley');
  let phase = 0; // 0: 404, 1: previous generation, 2: this generation running, 3: succeeded
  const seen: string[] = [];
  const api = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'ca.crt')) }, (req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
    if (req.url !== `/apis/batch/v1/namespaces/parley/jobs/${jobName}` || req.headers.authorization !== 'Bearer test-token') {
      res.writeHead(403).end('{}');
      return;
    }
    if (phase === 0) {
      res.writeHead(404).end('{}');
      return;
    }
    const gen = phase === 1 ? 'previous0000000' : generation;
    const status = phase === 3 ? { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] } : { active: 1 };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ metadata: { annotations: { 'parley.dev/schema-generation': gen } }, status }));
  });
  const port = await listen(api as unknown as Server);
  const timers = [1, 2, 3].map((p) => setTimeout(() => (phase = p), p * 3500));
  const t0 = Date.now();
  const r = await runCommand(init.command, { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(port), PARLEY_SERVICEACCOUNT_DIR: dir }, 40_000);
  timers.forEach(clearTimeout);
  api.close();
  rmSync(dir, { recursive: true, force: true });
  expect(r.out).toContain('not created yet');
  expect(r.out).toContain(`exists for generation previous0000000, waiting for ${generation}`);
  expect(r.out).toContain('running');
  expect(r.out).toContain(`${jobName} (generation ${generation}) succeeded`);
  expect(r.code).toBe(0);
  expect(Date.now() - t0).toBeGreaterThan(10_000);
  expect(new Set(seen)).toEqual(new Set([`GET /apis/batch/v1/namespaces/parley/jobs/${jobName} Bearer test-token`]));
}, 60_000);
