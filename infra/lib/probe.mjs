#!/usr/bin/env node
// Readiness probes for infra/parley-infra. Each probe checks that the server really answers:
//   redis      PING -> +PONG (raw RESP, no client library)
//   kafka      kafkajs admin describeCluster() lists at least one (unfenced) broker
//   cassandra  cassandra-driver connects and reads system.local
//   minio      GET /minio/health/ready -> 200 (with --setup: create the bucket if missing)
//
// usage:
//   probe.mjs --once <name...>                         one attempt each, in parallel; prints
//                                                      "<name> ok <detail>" or "<name> fail <reason>";
//                                                      exit 1 unless all are ok
//   probe.mjs --wait <name> --timeout <s> [--pid <pid>] [--setup]
//                                                      retry until it answers; exit 1 on timeout or
//                                                      when <pid> exits
// Settings come from the PARLEY_* environment exported by parley-infra.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// The client libraries are dependencies of @parley/testing; resolve them from there.
const require = createRequire(path.join(here, '..', '..', 'packages', 'testing', 'package.json'));

const env = process.env;
const host = env.PARLEY_INFRA_HOST ?? '127.0.0.1';
const cfg = {
  redisPort: Number(env.PARLEY_REDIS_PORT ?? 6390),
  kafkaPort: Number(env.PARLEY_KAFKA_PORT ?? 9192),
  cassandraPort: Number(env.PARLEY_CASSANDRA_PORT ?? 9142),
  datacenter: env.PARLEY_CASSANDRA_DATACENTER ?? 'datacenter1',
  minioPort: Number(env.PARLEY_MINIO_PORT ?? 9100),
  accessKey: env.PARLEY_MINIO_ACCESS_KEY ?? 'parley',
  secretKey: env.PARLEY_MINIO_SECRET_KEY ?? 'parley-secret-key',
  bucket: env.PARLEY_MINIO_BUCKET ?? 'media',
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms}ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function redisPing() {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port: cfg.redisPort });
    let buf = '';
    sock.setTimeout(2000, () => sock.destroy(new Error('timeout')));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      if (!buf.includes('\r\n')) return;
      sock.destroy();
      if (buf.startsWith('+PONG')) resolve('PONG');
      else reject(new Error(buf.trim()));
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error('connection closed')));
  });
}

async function kafkaProbe() {
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({
    clientId: 'parley-infra-probe',
    brokers: [`${host}:${cfg.kafkaPort}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 3000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) throw new Error('no broker registered yet');
    return `brokers=${cluster.brokers.length} controller=${cluster.controller}`;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function cassandraProbe() {
  const cassandra = require('cassandra-driver');
  const client = new cassandra.Client({
    contactPoints: [`${host}:${cfg.cassandraPort}`],
    localDataCenter: cfg.datacenter,
    socketOptions: { connectTimeout: 2000, readTimeout: 5000 },
    policies: { reconnection: new cassandra.policies.reconnection.ConstantReconnectionPolicy(60000) },
  });
  try {
    await client.connect();
    const rs = await client.execute('SELECT release_version FROM system.local');
    return `cassandra ${rs.first()?.release_version}`;
  } finally {
    await client.shutdown().catch(() => {});
  }
}

async function minioProbe(setup) {
  const res = await fetch(`http://${host}:${cfg.minioPort}/minio/health/ready`, {
    signal: AbortSignal.timeout(2000),
  });
  if (res.status !== 200) throw new Error(`health/ready answered ${res.status}`);
  if (!setup) return 'ok';
  const Minio = require('minio');
  const client = new Minio.Client({
    endPoint: host,
    port: cfg.minioPort,
    useSSL: false,
    accessKey: cfg.accessKey,
    secretKey: cfg.secretKey,
  });
  if (!(await client.bucketExists(cfg.bucket))) {
    await client.makeBucket(cfg.bucket);
    return `bucket ${cfg.bucket} created`;
  }
  return `bucket ${cfg.bucket} exists`;
}

const probes = {
  redis: () => redisPing(),
  kafka: () => kafkaProbe(),
  cassandra: () => cassandraProbe(),
  minio: (setup) => minioProbe(setup),
};

function processGone(pid) {
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

const message = (e) => (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 300);

async function once(names) {
  const results = await Promise.all(
    names.map(async (name) => {
      const fn = probes[name];
      if (!fn) return `${name} fail unknown server`;
      try {
        return `${name} ok ${await withTimeout(fn(false), 5000, name)}`;
      } catch (e) {
        return `${name} fail ${message(e)}`;
      }
    }),
  );
  for (const line of results) console.log(line);
  return results.every((line) => line.split(' ')[1] === 'ok');
}

async function wait(name, timeoutS, pid, setup) {
  const fn = probes[name];
  if (!fn) throw new Error(`unknown server ${name}`);
  const deadline = Date.now() + timeoutS * 1000;
  const interval = name === 'cassandra' || name === 'kafka' ? 500 : 200;
  let last = 'not answering';
  for (;;) {
    if (processGone(pid)) throw new Error(`process ${pid} exited (last probe: ${last})`);
    try {
      return await withTimeout(fn(setup), 8000, name);
    } catch (e) {
      last = message(e);
    }
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutS}s (last probe: ${last})`);
    await sleep(interval);
  }
}

const args = process.argv.slice(2);
const opt = (flag) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};

try {
  if (args[0] === '--once') {
    process.exit((await once(args.slice(1))) ? 0 : 1);
  } else if (args[0] === '--wait' && args[1]) {
    const detail = await wait(args[1], Number(opt('--timeout') ?? 60), Number(opt('--pid') ?? 0), args.includes('--setup'));
    if (detail && detail !== 'ok' && detail !== 'PONG') console.log(detail);
  } else {
    console.error('usage: probe.mjs --once <name...> | --wait <name> --timeout <s> [--pid <pid>] [--setup]');
    process.exit(2);
  }
  process.exit(0);
} catch (e) {
  console.error(message(e));
  process.exit(1);
}
