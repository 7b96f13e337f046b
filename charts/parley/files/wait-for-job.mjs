// Waits until the schema Job for this chart revision's schema generation has succeeded.
// Args: <job name> <generation>. Uses the projected service account token mounted into this init container only
// (the service container itself gets no API token). Needs `get` on that one Job (chart RBAC, resourceNames).
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
const [job, generation] = process.argv.slice(1);
// PARLEY_SERVICEACCOUNT_DIR only exists for the chart's tests (a fake API server).
const dir = process.env.PARLEY_SERVICEACCOUNT_DIR ?? '/var/run/secrets/kubernetes.io/serviceaccount';
const ns = readFileSync(`${dir}/namespace`, 'utf8').trim();
const ca = readFileSync(`${dir}/ca.crt`);
const host = process.env.KUBERNETES_SERVICE_HOST;
const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function getJob() {
  const token = readFileSync(`${dir}/token`, 'utf8').trim(); // re-read: projected tokens rotate
  return new Promise((ok, fail) => {
    const req = request({ host, port, ca, method: 'GET', path: `/apis/batch/v1/namespaces/${ns}/jobs/${job}`,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => ok({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.end();
  });
}
let last = '';
for (;;) {
  let state;
  try {
    const { status, body } = await getJob();
    if (status === 404) state = 'not created yet';
    else if (status !== 200) state = `API answered ${status}: ${body.slice(0, 200)}`;
    else {
      const j = JSON.parse(body);
      const gen = j.metadata?.annotations?.['parley.dev/schema-generation'];
      const done = (j.status?.succeeded ?? 0) > 0 || (j.status?.conditions ?? []).some((c) => c.type === 'Complete' && c.status === 'True');
      if (gen !== generation) state = `exists for generation ${gen}, waiting for ${generation}`;
      else if (done) { console.log(`wait-for-job: ${job} (generation ${generation}) succeeded`); process.exit(0); }
      else state = `running (failed pods: ${j.status?.failed ?? 0})`;
    }
  } catch (err) {
    state = `API error: ${err.message}`;
  }
  if (state !== last) console.log(`wait-for-job: ${job}: ${state}`);
  last = state;
  await sleep(3000);
}
