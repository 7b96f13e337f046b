// cassandra-driver's errors that say the cluster is unreachable or overloaded, not that the query is wrong.
// A leaf module (no imports), so errors.ts can compose it without a cycle through cassandra.ts.

/** Server-side overload and timeouts (ResponseError codes): Unavailable 0x1000, Overloaded 0x1001,
 * IsBootstrapping 0x1002, WriteTimeout 0x1100, ReadTimeout 0x1200, ReadFailure 0x1300, WriteFailure 0x1500. */
function isTransientResponseCode(code: unknown): boolean {
  return typeof code === 'number' && ((code >= 0x1000 && code <= 0x1300) || code === 0x1500);
}

/** A cassandra-driver error worth retrying: no host, a timed-out or busy connection, server overload. */
export function isTransientCassandraError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const name = err.name;
  if (name === 'NoHostAvailableError' || name === 'OperationTimedOutError' || name === 'BusyConnectionError') return true;
  if (name === 'ResponseError' && isTransientResponseCode((err as { code?: unknown }).code)) return true;
  return /requests in-flight|Socket was closed/i.test(err.message);
}
