// ioredis's errors that say Redis is unreachable, not that the command is wrong. A leaf module (no
// imports), so errors.ts can compose it without a cycle through redis.ts.

/** An ioredis error worth retrying: retries per request used up, the connection closed or not writable. */
export function isTransientRedisError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  return /Connection is closed|Stream isn't writeable|enableOfflineQueue/i.test(err.message);
}
