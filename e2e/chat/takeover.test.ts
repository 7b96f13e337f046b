// A sequencer takeover between two message PROCESSES under load (docs/architecture.md §3, issue 9): the mesh
// runs two message replicas sharing the 16 chat shards through their leases; the gateways call `message`,
// which forwards sends of shards `message-1` holds. Stopping `message-1` (SIGSTOP: a paused process that
// wakes up later still believing in nothing, or SIGKILL) mid-stream must leave, once `message` has taken its
// shards over at a higher epoch: no duplicate seq, no gap, no acked message lost or moved, and no write of the
// old holder accepted afterwards (every acked message is found at the seq its ack named, with its messageId:
// a late old-epoch write winning at a seq would replace it).
import { createCassandra } from '@parley/kit';
import { shardOf } from '../../services/message/src/domain/shard-leases.js';
import { chatMesh, sleep, type Mesh } from './helpers.js';
import { finalDrain, stream, summary, verify, world, type World } from './crash-kit.js';

// The default lease (10 s, margin 3 s): a shorter one flaps on a loaded box (a heartbeat must land within
// lease − margin − interval).
const LEASE_MS = 10_000;
let mesh: Mesh;
beforeAll(async () => {
  mesh = await chatMesh(
    { GATEWAY_UPSTREAM_DEADLINE_MS: '3000', MESSAGE_SEQUENCER_LEASE_MS: String(LEASE_MS) },
    { messageReplicas: 1 },
  );
}, 240_000);
afterAll(async () => {
  const pid = mesh?.pid('message-1');
  if (pid) process.kill(pid, 'SIGCONT');
  await mesh?.stop();
});

/** shard → the replica name holding it now (from the real lease tables), for this mesh's two replicas. */
async function holders(): Promise<Map<number, string>> {
  const env = mesh.env;
  const db = createCassandra({
    contactPoints: (env['PARLEY_CASSANDRA_CONTACT_POINTS'] ?? '127.0.0.1:9142').split(','),
    localDataCenter: env['PARLEY_CASSANDRA_DATACENTER'] ?? 'datacenter1',
    keyspace: env['PARLEY_CASSANDRA_KEYSPACE']!,
  });
  try {
    const ports = new Map(['message', 'message-1'].map((n) => [mesh.envOf(n)!['MESSAGE_GRPC_PORT']!, n]));
    const owners = new Map<string, string>();
    for (const r of (await db.execute('SELECT owner, addr FROM sequencer_owners')).rows) {
      const port = String(r.get('addr') ?? '').split(':').pop()!;
      if (ports.has(port)) owners.set(String(r.get('owner')), ports.get(port)!);
    }
    const out = new Map<number, string>();
    for (const r of (await db.execute('SELECT shard, owner FROM sequencer_shards')).rows) {
      const who = owners.get(String(r.get('owner') ?? ''));
      if (who) out.set(Number(r.get('shard')), who);
    }
    return out;
  } finally {
    await db.shutdown();
  }
}

/** A world in which `message-1` holds at least one chat's shard (waiting for the fair split, retrying worlds). */
async function worldOnReplica(label: string): Promise<{ w: World; onReplica: string[] }> {
  const shards = Number(mesh.envOf('message')!['MESSAGE_SEQUENCER_SHARDS'] ?? 16);
  // First the fair split: `message` started alone and holds every shard; it hands half over to `message-1`.
  const settled = async () => {
    const h = await holders();
    const n = [...h.values()].filter((v) => v === 'message-1').length;
    return h.size === shards && n >= shards / 2 - 1 && n <= shards / 2 + 1;
  };
  for (let i = 0; i < 120 && !(await settled()); i++) await sleep(500);
  await sleep(LEASE_MS); // one more lease period: no handover left in flight
  for (let attempt = 0; attempt < 6; attempt++) {
    const w = await world(mesh, `${label}${attempt}`);
    for (let i = 0; i < 20; i++) {
      const h = await holders();
      const onReplica = w.chats.filter((c) => h.get(shardOf(c.chatId, shards)) === 'message-1').map((c) => c.chatId);
      if (onReplica.length > 0 && h.size === shards) return { w, onReplica };
      await sleep(500);
    }
    for (const d of w.devices) await d.dev.disconnect();
  }
  throw new Error('message-1 never held a shard of a test chat');
}

async function takeover(label: string, fault: 'SIGSTOP' | 'SIGKILL'): Promise<void> {
  const { w, onReplica } = await worldOnReplica(label);
  let stop = false;
  const run = stream(w, () => stop);
  await sleep(3000);
  const pid = mesh.pid('message-1')!;
  if (fault === 'SIGSTOP') process.kill(pid, 'SIGSTOP');
  else await mesh.kill('message-1', 'SIGKILL');
  // Past the lease and a few heartbeat rounds: `message` has taken the shards over (and sequences them).
  await sleep(LEASE_MS * 2);
  const h = await holders();
  const shards = Number(mesh.envOf('message')!['MESSAGE_SEQUENCER_SHARDS'] ?? 16);
  expect(onReplica.map((c) => h.get(shardOf(c, shards)))).toEqual(onReplica.map(() => 'message'));
  // The old holder comes back: paused, it wakes with forwarded sends in hand; killed, it restarts.
  if (fault === 'SIGSTOP') process.kill(pid, 'SIGCONT');
  else await mesh.start('message-1');
  await sleep(4000);
  stop = true;
  const { acked, attempted } = await run;
  expect(acked.length).toBeGreaterThan(30);
  // Sends to the chats of the stopped holder failed and were retried: the fault was exercised.
  expect(acked.some((a) => onReplica.includes(a.chatId) && a.attempts > 1)).toBe(true);
  const quiet = await finalDrain(w, Math.max(...acked.map((a) => a.ackedAt)), acked);
  summary(`takeover ${fault}`, w, acked, attempted, quiet);
  await verify(w, acked);
  for (const d of w.devices) await d.dev.disconnect();
}

it('SIGSTOP of the replica sequencing a chat mid-stream: the other takes over; the woken one writes nothing that counts', async () => {
  await takeover('ts', 'SIGSTOP');
}, 360_000);

it('SIGKILL of the replica sequencing a chat mid-stream: the other takes over; nothing lost, duplicated or moved', async () => {
  await takeover('tk', 'SIGKILL');
}, 360_000);
