// Sequencer shard ownership in Cassandra (migrations/002_sequencer_leases.cql). A shard row changes owner only
// through a lightweight transaction conditioned on the owner and epoch it was read with, so two would-be
// owners racing for one shard cannot both win, and every takeover raises the epoch. Heartbeats are plain
// writes of the owner's own row: no Paxos round in steady state.
import cassandra from 'cassandra-driver';
import { LWT, QUORUM, toBig } from '@parley/kit';

const { types } = cassandra;
import type { LeaseStore, ShardRow, OwnerRow } from '../domain/shard-leases.js';

const big = (v: unknown): bigint => toBig(v) ?? 0n;
const long = (v: bigint) => types.Long.fromString(v.toString());

export class CassandraLeaseStore implements LeaseStore {
  constructor(private readonly client: cassandra.Client) {}

  async shards(): Promise<ShardRow[]> {
    const rs = await this.client.execute('SELECT shard, owner, epoch FROM sequencer_shards', [], { ...QUORUM, fetchSize: 10_000 });
    return rs.rows.map((r) => ({ shard: r['shard'] as number, owner: (r['owner'] as string | null) ?? '', epoch: big(r['epoch']) }));
  }

  async owners(): Promise<OwnerRow[]> {
    const rs = await this.client.execute('SELECT owner, addr, expires_at FROM sequencer_owners', [], { ...QUORUM, fetchSize: 10_000 });
    return rs.rows.map((r) => ({ owner: r['owner'] as string, addr: (r['addr'] as string | null) ?? '', expiresAt: Number(big(r['expires_at'])) }));
  }

  async heartbeat(owner: string, addr: string, expiresAt: number, ttlS: number): Promise<void> {
    await this.client.execute('INSERT INTO sequencer_owners (owner, addr, expires_at) VALUES (?, ?, ?) USING TTL ?', [owner, addr, long(BigInt(expiresAt)), ttlS], QUORUM);
  }

  async retire(owner: string): Promise<void> {
    await this.client.execute('DELETE FROM sequencer_owners WHERE owner = ?', [owner], QUORUM);
  }

  async transfer(shard: number, from: { owner: string; epoch: bigint } | undefined, to: { owner: string; epoch: bigint }): Promise<boolean> {
    const rs = from
      ? await this.client.execute('UPDATE sequencer_shards SET owner = ?, epoch = ? WHERE shard = ? IF owner = ? AND epoch = ?', [to.owner, long(to.epoch), shard, from.owner, long(from.epoch)], LWT)
      : await this.client.execute('INSERT INTO sequencer_shards (shard, owner, epoch) VALUES (?, ?, ?) IF NOT EXISTS', [shard, to.owner, long(to.epoch)], LWT);
    return rs.wasApplied();
  }
}
