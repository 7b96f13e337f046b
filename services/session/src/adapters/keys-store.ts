// Cassandra adapter for JWT signing keys and the pointer to the current one.
import { cassandraTypes, type CassandraClient } from '@parley/kit';
import type { KeyPointer, KeyRecord } from '../domain/keyring.js';
import type { KeysPort } from '../domain/ports.js';

export class KeysStore implements KeysPort {
  constructor(private readonly db: CassandraClient) {}

  async list(): Promise<Map<string, KeyRecord>> {
    const rs = await this.db.execute('SELECT kid, alg, private_jwk, public_jwk, created_at FROM signing_keys');
    const out = new Map<string, KeyRecord>();
    for (const r of rs.rows) {
      out.set(r.get('kid'), {
        kid: r.get('kid'),
        alg: r.get('alg'),
        privateJwk: r.get('private_jwk'),
        publicJwk: r.get('public_jwk'),
        createdAt: Number(r.get('created_at')),
      });
    }
    return out;
  }

  async insert(k: KeyRecord): Promise<void> {
    await this.db.execute('INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at) VALUES (?, ?, ?, ?, ?)', [
      k.kid,
      k.alg,
      k.privateJwk,
      k.publicJwk,
      k.createdAt,
    ]);
  }

  async delete(kid: string): Promise<void> {
    await this.db.execute('DELETE FROM signing_keys WHERE kid = ?', [kid]);
  }

  async pointer(): Promise<KeyPointer | undefined> {
    const row = (await this.db.execute('SELECT kid, previous_kid, rotated_at FROM signing_key_current WHERE id = 0', [], { consistency: cassandraTypes.consistencies.localSerial })).first();
    if (!row) return undefined;
    return { kid: row.get('kid'), previousKid: row.get('previous_kid') ?? undefined, rotatedAt: Number(row.get('rotated_at')) };
  }

  /** Compare-and-set of the current key: only one replica wins a rotation. */
  async swapPointer(expected: KeyPointer | undefined, next: KeyPointer): Promise<boolean> {
    if (!expected) {
      const rs = await this.db.execute('INSERT INTO signing_key_current (id, kid, previous_kid, rotated_at) VALUES (0, ?, ?, ?) IF NOT EXISTS', [
        next.kid,
        next.previousKid ?? null,
        next.rotatedAt,
      ]);
      return rs.wasApplied();
    }
    const rs = await this.db.execute('UPDATE signing_key_current SET kid = ?, previous_kid = ?, rotated_at = ? WHERE id = 0 IF kid = ?', [
      next.kid,
      next.previousKid ?? null,
      next.rotatedAt,
      expected.kid,
    ]);
    return rs.wasApplied();
  }
}
