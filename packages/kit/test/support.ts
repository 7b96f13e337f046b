// Shared settings for the kit's integration tests: the real local servers (./parley infra start), overridable
// with the same PARLEY_* variables the services read, and a unique id per run so suites never collide.
import { testPki } from '@parley/testing';
import { createLogger } from '../src/index.js';

const env = process.env;
export const runId = `t${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
export const logger = createLogger('kit-test', env.KIT_TEST_LOG_LEVEL ?? 'silent');
export const infra = {
  cassandraContactPoints: (env.PARLEY_CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:9142').split(','),
  cassandraDatacenter: env.PARLEY_CASSANDRA_DATACENTER ?? 'datacenter1',
  kafkaBrokers: (env.PARLEY_KAFKA_BROKERS ?? '127.0.0.1:9192').split(','),
  redisUrl: env.PARLEY_REDIS_URL ?? 'redis://127.0.0.1:6390',
  minioEndpoint: env.PARLEY_MINIO_ENDPOINT ?? 'http://127.0.0.1:9100',
  minioAccessKey: env.PARLEY_MINIO_ACCESS_KEY ?? 'parley',
  minioSecretKey: env.PARLEY_MINIO_SECRET_KEY ?? 'parley-secret-key',
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 30_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`${what} not reached after ${ms} ms`);
    await sleep(50);
  }
}

/** Mesh identities (mutual TLS is not optional): test servers are `testing` and admit `gateway`, test clients are `gateway`. */
export const pki = testPki();
export const asTestServer = { identity: pki.identity('testing'), allowedCallers: ['gateway'] };
export const asGateway = { identity: pki.identity('gateway') };
