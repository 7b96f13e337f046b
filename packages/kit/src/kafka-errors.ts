// kafkajs's errors that say the brokers are unreachable or slow, not that the request is wrong. A leaf
// module (no imports), so errors.ts can compose it without a cycle through kafka.ts.

const TRANSIENT = new Set(['KafkaJSConnectionError', 'KafkaJSRequestTimeoutError', 'KafkaJSNumberOfRetriesExceeded', 'KafkaJSBrokerNotFound']);

/** A kafkajs error worth retrying: a lost connection, a request timeout, retries used up, no broker. */
export function isTransientKafkaError(err: unknown): boolean {
  return err instanceof Error && TRANSIENT.has(err.name);
}
