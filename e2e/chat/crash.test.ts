// Crash tests (design.md "Tests"; protocol.md §8.1–§8.4): under a steady stream of sends, SIGKILL the
// message service (which also runs the fan-out worker: committing, publishing to chat.messages.v1 and
// routing to gateways all die with it), then a gateway, and prove that:
//   - every send acked with ok:true reached every member device (except the sending device), proven by
//     what the devices RECEIVED (live + backlog on reconnect), deduped by (chatId, seq);
//   - each device holds a gap-free run of seqs per chat (with its own sends), and every backlog pass is in
//     per-chat seq order;
//   - the log has no duplicates: each clientMsgId once in history, at the seq its ack named.
// Clients behave like apps: they retry a failed send with the SAME clientMsgId, reconnect with backoff to
// any gateway, and ack what they receive.
import { chatMesh, sleep, type Mesh } from './helpers.js';
import { finalDrain, stream, summary, verify, world } from './crash-kit.js';

let mesh: Mesh;
beforeAll(async () => {
  // Short upstream deadline so sends to a dead message service fail fast and are retried.
  mesh = await chatMesh({ GATEWAY_UPSTREAM_DEADLINE_MS: '3000' });
});
afterAll(async () => {
  await mesh?.stop();
});

it('SIGKILL of the message service (with its fan-out worker) mid-stream loses and duplicates nothing', async () => {
  const w = await world(mesh, 'km');
  let stop = false;
  const run = stream(w, () => stop);
  await sleep(3000);
  await mesh.kill('message', 'SIGKILL');
  await sleep(3000);
  await mesh.start('message');
  // Ready is not yet sequencing: the restarted process takes the dead one's shards only once its lease has
  // expired (MESSAGE_SEQUENCER_LEASE_MS after its last heartbeat), so keep streaming well past that.
  await sleep(10_000);
  stop = true;
  const { acked, attempted } = await run;
  expect(acked.length).toBeGreaterThan(50);
  // Some sends must have hit the dead service: the test did exercise the crash.
  expect(acked.some((a) => a.attempts > 1)).toBe(true);
  const quiet = await finalDrain(w, Math.max(...acked.map((a) => a.ackedAt)), acked);
  summary('message', w, acked, attempted, quiet);
  await verify(w, acked);
  for (const d of w.devices) await d.dev.disconnect();
}, 300_000);

it('SIGKILL of gateway-0 mid-stream: its clients reconnect elsewhere and nothing is lost or duplicated', async () => {
  const w = await world(mesh, 'kg');
  let stop = false;
  const run = stream(w, () => stop);
  await sleep(3000);
  await mesh.kill('gateway-0', 'SIGKILL');
  await sleep(3000);
  await mesh.start('gateway-0');
  await sleep(4000);
  stop = true;
  const { acked, attempted } = await run;
  expect(acked.length).toBeGreaterThan(50);
  // Half the devices were on gateway-0 and had to reconnect.
  expect(w.devices.reduce((n, d) => n + d.reconnects, 0)).toBeGreaterThanOrEqual(w.devices.length / 2);
  const quiet = await finalDrain(w, Math.max(...acked.map((a) => a.ackedAt)), acked);
  summary('gateway', w, acked, attempted, quiet);
  await verify(w, acked);
  for (const d of w.devices) await d.dev.disconnect();
}, 300_000);
