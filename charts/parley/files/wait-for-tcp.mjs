// Waits until every host:port given as an argument accepts a TCP connection (gives up after 15 minutes).
// Runs with the service image's node in init containers; no dependencies.
import { connect } from 'node:net';
const targets = process.argv.slice(1);
const deadline = Date.now() + 900_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function probe(target) {
  const i = target.lastIndexOf(':');
  const host = target.slice(0, i);
  const port = Number(target.slice(i + 1));
  return new Promise((ok) => {
    const s = connect({ host, port, timeout: 3000 });
    s.once('connect', () => { s.destroy(); ok(true); });
    s.once('timeout', () => { s.destroy(); ok(false); });
    s.once('error', () => ok(false));
  });
}
for (const t of targets) {
  let n = 0;
  while (!(await probe(t))) {
    if (Date.now() > deadline) { console.error(`wait-for-tcp: ${t} not reachable, giving up`); process.exit(1); }
    if (n++ % 10 === 0) console.log(`wait-for-tcp: waiting for ${t}`);
    await sleep(2000);
  }
  console.log(`wait-for-tcp: ${t} is up`);
}
