// Each driver's transient-error classifier on its own (cassandra-errors.ts, redis-errors.ts, kafka-errors.ts):
// it accepts its driver's outage and overload errors, and neither a bug nor another driver's errors.
import { isTransientStoreError } from './errors.js';
import { isTransientCassandraError } from './cassandra-errors.js';
import { isTransientKafkaError } from './kafka-errors.js';
import { isTransientRedisError } from './redis-errors.js';

const named = (name: string, message = 'x', extra: Record<string, unknown> = {}) => Object.assign(Object.assign(new Error(message), { name }), extra);

const cassandra = [
  named('NoHostAvailableError', 'All host(s) tried for query failed'),
  named('OperationTimedOutError'),
  named('BusyConnectionError'),
  named('ResponseError', 'Cannot achieve consistency level QUORUM', { code: 0x1000 }),
  named('ResponseError', 'Overloaded', { code: 0x1001 }),
  named('ResponseError', 'Operation timed out - received only 0 responses', { code: 0x1100 }),
  named('ResponseError', 'read timeout', { code: 0x1200 }),
  named('ResponseError', 'write failure', { code: 0x1500 }),
  new Error('2048 requests in-flight on a single connection'),
  new Error('Socket was closed'),
];
const redis = [named('MaxRetriesPerRequestError', 'Reached the max retries per request limit'), new Error('Connection is closed.'), new Error("Stream isn't writeable and enableOfflineQueue options is false")];
const kafka = ['KafkaJSConnectionError', 'KafkaJSRequestTimeoutError', 'KafkaJSNumberOfRetriesExceeded', 'KafkaJSBrokerNotFound'].map((n) => named(n));
const bugs = [
  named('ResponseError', 'line 1:7 no viable alternative', { code: 0x2000 }),
  named('ResponseError', 'unconfigured table', { code: 0x2200 }),
  named('ReplyError', 'WRONGTYPE Operation against a key holding the wrong kind of value'),
  named('KafkaJSProtocolError', 'This server does not host this topic-partition'),
  new RangeError('bad'),
];
const drivers = { cassandra, redis, kafka };
const classifiers = { cassandra: isTransientCassandraError, redis: isTransientRedisError, kafka: isTransientKafkaError };

describe.each(Object.keys(drivers) as (keyof typeof drivers)[])('the %s classifier', (driver) => {
  const classify = classifiers[driver];

  it("accepts its driver's outage and overload errors", () => {
    for (const e of drivers[driver]) expect({ e: e.message, name: e.name, transient: classify(e) }).toEqual({ e: e.message, name: e.name, transient: true });
  });

  it("refuses bugs, non-errors and the other drivers' errors", () => {
    const others = Object.entries(drivers).filter(([d]) => d !== driver).flatMap(([, es]) => es);
    for (const e of [...bugs, ...others]) expect({ e: e.message, name: e.name, transient: classify(e) }).toEqual({ e: e.message, name: e.name, transient: false });
    for (const v of [undefined, null, 'Connection is closed.', { name: 'KafkaJSConnectionError' }]) expect(classify(v)).toBe(false);
  });
});

test('isTransientStoreError is the three classifiers together, plus Node socket failures', () => {
  for (const e of [...cassandra, ...redis, ...kafka, new Error('connect ECONNREFUSED 127.0.0.1:6390'), new Error('read ECONNRESET'), new Error('write EPIPE')]) {
    expect({ e: e.message, transient: isTransientStoreError(e) }).toEqual({ e: e.message, transient: true });
  }
  for (const e of bugs) expect({ e: e.message, transient: isTransientStoreError(e) }).toEqual({ e: e.message, transient: false });
});
