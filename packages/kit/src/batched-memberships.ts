// GroupService.ListMemberships, group-committed over ListMembershipsMany. Every connect asks the group
// service for the user's memberships twice (the message service's backlog, presence's receipt replay); in a
// burst of connects that was two gRPC calls and two Cassandra reads per upgrade. Wrapped, concurrent lookups
// of one process share one call per batch of users (and the group service reads them with one IN query per
// 100 users). Callers keep the unary API.
import { create } from '@bufbuild/protobuf';
import { groupV1 } from '@parley/proto';
import { BatchedLookup } from './group-commit.js';
import { isUnimplemented } from './errors.js';
import type { Client } from './grpc/types.js';

type GroupClient = Pick<Client<typeof groupV1.GroupService>, 'listMemberships' | 'listMembershipsMany'>;

/** `client` with `listMemberships` batched (the per-call options are not kept: the client's deadline applies). */
export function withBatchedMemberships<C extends GroupClient>(client: C, o: { maxUsers?: number; maxInFlight?: number } = {}): C {
  const lookup = (includeLeft: boolean) =>
    new BatchedLookup<string, groupV1.Membership[]>(
      async (userIds) => {
        const out = new Map<string, groupV1.Membership[]>(userIds.map((u) => [u, []]));
        try {
          const res = await client.listMembershipsMany({ userIds, includeLeft });
          for (const m of res.memberships) out.get(m.userId)?.push(m);
        } catch (err) {
          if (!isUnimplemented(err)) throw err;
          // An older group service (rolling upgrade): one ListMemberships per user.
          await Promise.all(userIds.map(async (userId) => out.set(userId, (await client.listMemberships({ userId, includeLeft })).memberships)));
        }
        return out;
      },
      { maxKeys: o.maxUsers ?? 500, maxInFlight: o.maxInFlight ?? 2 },
    );
  const byLeft = { true: lookup(true), false: lookup(false) };
  const listMemberships = async (req: { userId?: string; includeLeft?: boolean }) =>
    create(groupV1.ListMembershipsResponseSchema, { memberships: (await byLeft[req.includeLeft ? 'true' : 'false'].get(req.userId ?? '')) ?? [] });
  return Object.assign(Object.create(Object.getPrototypeOf(client) as object) as C, client, { listMemberships });
}
