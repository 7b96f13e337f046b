// Starts the whole Parley mesh as real processes on loopback: six services and N gateways,
// against the real Redis, Kafka, Cassandra and MinIO of infra/. Used by `./parley up` (fixed ports,
// the `parley` keyspace) and by e2e tests (free ports, a fresh keyspace and namespace per mesh).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, infraEnv, repoRoot } from './infra.js';
import { startPushFakes, type PushFakes } from './push-fakes/index.js';
import { ensurePki, MESH_NAMES, testPki, type Pki } from './pki.js';

export const BACKEND_SERVICES = ['session', 'group', 'message', 'presence', 'media', 'push'] as const;
export type BackendService = (typeof BACKEND_SERVICES)[number];

/** Default local ports (docs/architecture.md). */
export const DEFAULT_PORTS: Record<BackendService, { grpc: number; http: number }> = {
  session: { grpc: 50051, http: 9461 },
  group: { grpc: 50052, http: 9462 },
  message: { grpc: 50053, http: 9463 },
  presence: { grpc: 50054, http: 9464 },
  media: { grpc: 50055, http: 9465 },
  push: { grpc: 50056, http: 9466 },
};
export const DEFAULT_GATEWAY_PORT = 8080;

/**
 * The gateways' cluster-wide auth-route budgets raised far above what a test suite does (every e2e user signs
 * up from 127.0.0.1); the limits themselves are covered by e2e/edge/auth-limits.test.ts.
 */
export const LOOSE_AUTH_RATES: Record<string, string> = Object.fromEntries(
  ['SIGNUP_IP', 'LOGIN_IP', 'LOGIN_USER', 'REFRESH_IP'].flatMap((c) => [
    [`GATEWAY_AUTH_RATE_${c}_PER_MINUTE`, '6000000'],
    [`GATEWAY_AUTH_RATE_${c}_BURST`, '100000'],
  ]),
);

export interface MeshOptions {
  /** Number of gateway instances (default 2, so cross-gateway routing is always exercised). */
  gateways?: number;
  /** Extra env for every process. */
  env?: Record<string, string>;
  /** Backend services to start (default all six). */
  services?: readonly BackendService[];
  /** Use the fixed default ports and the plain keyspace/namespace (the local dev stack). */
  fixed?: boolean;
  /** Where logs go (default <repo>/.run/mesh/<id>). */
  logDir?: string;
  /** Readiness timeout per process (ms). */
  readyTimeoutMs?: number;
  /** Called with progress lines. */
  onProgress?: (line: string) => void;
  /**
   * Extra message-service replicas (processes `message-1`, `message-2`, …; default 0): same keyspace and
   * topics, own ports, sharing the chat shards through their sequencer leases. The gateways and the other
   * services call `message`, which forwards sends of shards another replica holds.
   */
  messageReplicas?: number;
  /** Start the local fake push providers (packages/testing/src/push-fakes) and point push at them (default true). */
  pushFakes?: boolean;
  /**
   * Let the gateways listen on every interface (0.0.0.0); everything else stays on 127.0.0.1. Default: the
   * PARLEY_EXPOSE_GATEWAYS environment variable (`1`/`true`), else off: the whole mesh is loopback-only.
   */
  exposeGateways?: boolean;
  /**
   * Run every process from its container image (`./parley images`) instead of from source: `podman run`
   * on the host network (so loopback works as for processes), read-only root filesystem with a tmpfs
   * /tmp, as the image's non-root user. `env` is podman's own env (CONTAINERS_CONF, ...).
   */
  images?: { tag?: string; repository?: string; podman?: string; env?: Record<string, string> };
}

interface Proc {
  name: string;
  service: string;
  script: string;
  env: Record<string, string>;
  readyUrl: string;
  child?: ChildProcess;
  log?: WriteStream;
  exited?: Promise<void>;
}

export interface Mesh {
  id: string;
  gatewayUrls: string[];
  wsUrls: string[];
  env: Record<string, string>;
  names(): string[];
  kill(name: string, signal?: NodeJS.Signals): Promise<void>;
  start(name: string): Promise<void>;
  restart(name: string): Promise<void>;
  stop(): Promise<void>;
  logFile(name: string): string;
  pid(name: string): number | undefined;
  /** The /readyz URL of a process. */
  readyUrl(name: string): string | undefined;
  /** The container a process runs in (only with `images`). */
  container(name: string): string | undefined;
  /** The env a process was started with (ports, addresses). */
  envOf(name: string): Record<string, string> | undefined;
  /** The fake push providers push sends to (unless `pushFakes: false`). */
  pushFakes?: PushFakes;
  /** The mesh CA and the identity (certificate) of each process (PARLEY_MESH_TLS_DIR; src/pki.ts). */
  pki: Pki;
}

/** Where a container finds its mesh identity (the directory is mounted read-only). */
const CONTAINER_TLS_DIR = '/etc/parley/mesh-tls';



const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function dropKeyspace(env: Record<string, string>): Promise<void> {
  const keyspace = env['PARLEY_CASSANDRA_KEYSPACE'];
  if (!keyspace || !/^e2e_[a-z0-9]+$/.test(keyspace)) return;
  const { default: cassandra } = await import('cassandra-driver');
  const client = new cassandra.Client({
    contactPoints: (env['PARLEY_CASSANDRA_CONTACT_POINTS'] ?? '127.0.0.1:9142').split(','),
    localDataCenter: env['PARLEY_CASSANDRA_DATACENTER'] ?? 'datacenter1',
    socketOptions: { readTimeout: 60_000 },
  });
  try {
    await client.connect();
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  } finally {
    await client.shutdown().catch(() => {});
  }
}

/**
 * A test mesh's Kafka topics go with it, like its keyspace: every namespace adds ~150 partitions (each topic,
 * its .dlq twin), and a broker holding thousands of idle partitions spends CPU on them all (measured: Kafka's
 * share of a bench run doubled after a day of leftovers), which made successive bench runs slower than the
 * first.
 */
async function dropTopics(env: Record<string, string>): Promise<void> {
  const ns = env['PARLEY_NAMESPACE'];
  if (!ns || !/^[a-z0-9]+$/.test(ns)) return;
  const { Kafka, logLevel } = (await import('kafkajs')).default;
  const admin = new Kafka({
    clientId: 'mesh-cleanup',
    brokers: (env['PARLEY_KAFKA_BROKERS'] ?? '127.0.0.1:9192').split(','),
    logLevel: logLevel.NOTHING,
    // A test may have stopped its (private) Kafka already: give up at once rather than hold the teardown.
    connectionTimeout: 2000,
    requestTimeout: 10_000,
    retry: { retries: 0 },
  }).admin();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        await admin.connect();
        const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${ns}.`));
        if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
      })(),
      new Promise((_, fail) => (timer = setTimeout(() => fail(new Error('topic cleanup timed out')), 15_000))),
    ]);
  } finally {
    clearTimeout(timer);
    await admin.disconnect().catch(() => {});
  }
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startMesh(opts: MeshOptions = {}): Promise<Mesh> {
  const root = repoRoot();
  const fixed = opts.fixed ?? false;
  const id = fixed ? 'dev' : `m${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const logDir = opts.logDir ?? join(root, '.run', 'mesh', id);
  mkdirSync(logDir, { recursive: true });
  const progress = opts.onProgress ?? (() => {});
  const services = opts.services ?? BACKEND_SERVICES;
  const gatewayCount = opts.gateways ?? 2;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;

  const ports: Record<string, { grpc: number; http: number }> = {};
  for (const s of BACKEND_SERVICES) {
    ports[s] = fixed ? DEFAULT_PORTS[s] : { grpc: await freePort(), http: await freePort() };
  }
  const gwPorts: number[] = [];
  for (let i = 0; i < gatewayCount; i++) gwPorts.push(fixed ? DEFAULT_GATEWAY_PORT + i : await freePort());

  const expose = opts.exposeGateways ?? /^(1|true|yes)$/i.test(process.env.PARLEY_EXPOSE_GATEWAYS ?? '');
  const shared: Record<string, string> = {
    ...infraEnv(),
    PARLEY_LOG_LEVEL: process.env.PARLEY_LOG_LEVEL ?? 'info',
    // Not production: allows the cheap password hashing tests use and signing keys without a secret.
    PARLEY_ENV: process.env.PARLEY_ENV ?? (fixed ? 'development' : 'test'),
    // Test meshes: cheap password hashing and auth-route budgets far above a suite's sign-ups (all from
    // 127.0.0.1); suites that test those set their own values in `env`.
    ...(fixed
      ? {}
      : { PARLEY_CASSANDRA_KEYSPACE: `e2e_${id}`, PARLEY_NAMESPACE: id, SESSION_SCRYPT_COST: '1024', SESSION_SCRYPT_PARALLELISM: '1', ...LOOSE_AUTH_RATES }),
    ...(opts.env ?? {}),
  };
  const addr = (s: BackendService) => `127.0.0.1:${ports[s]!.grpc}`;
  const perService: Record<BackendService, Record<string, string>> = {
    session: {},
    group: { GROUP_MESSAGE_ADDR: addr('message'), GROUP_SESSION_ADDR: addr('session') },
    message: { MESSAGE_GROUP_ADDR: addr('group'), MESSAGE_SESSION_ADDR: addr('session'), MESSAGE_MEDIA_ADDR: addr('media') },
    presence: { PRESENCE_SESSION_ADDR: addr('session'), PRESENCE_GROUP_ADDR: addr('group'), PRESENCE_MESSAGE_ADDR: addr('message') },
    media: { MEDIA_GROUP_ADDR: addr('group') },
    push: { PUSH_SESSION_ADDR: addr('session') },
  };
  // Fixed ports for `./parley up` (9470 HTTPS: FCM, Web Push, webhooks; 9471 HTTP/2: APNs).
  const pushFakes = opts.pushFakes === false ? undefined : await startPushFakes(fixed ? { httpsPort: 9470, apnsPort: 9471 } : {});
  if (pushFakes) Object.assign(perService.push, pushFakes.env);

  // Mutual TLS between every process, as in the chart: `./parley up` keeps its CA under .run/pki/dev, test
  // meshes share .run/pki/test, images get theirs with keys a container's non-root user can read.
  const pki = opts.images
    ? ensurePki(join(root, '.run', 'pki', 'images'), MESH_NAMES, { keyMode: 0o644 })
    : fixed
      ? ensurePki(join(root, '.run', 'pki', 'dev'), MESH_NAMES, { days: 365 })
      : testPki();
  const tlsDir = (service: string) => (opts.images ? CONTAINER_TLS_DIR : pki.dirOf(service));

  const procs = new Map<string, Proc>();
  for (const s of BACKEND_SERVICES) {
    const P = s.toUpperCase();
    procs.set(s, {
      name: s,
      service: s,
      script: join(root, 'services', s, 'dist', 'main.js'),
      env: {
        ...shared,
        // Loopback only: the internal gRPC and metrics ports are never reachable from the network.
        [`${P}_HOST`]: '127.0.0.1',
        [`${P}_GRPC_PORT`]: String(ports[s]!.grpc),
        [`${P}_HTTP_PORT`]: String(ports[s]!.http),
        PARLEY_MESH_TLS_DIR: tlsDir(s),
        ...perService[s],
        ...(opts.env ?? {}),
      },
      readyUrl: `http://127.0.0.1:${ports[s]!.http}/readyz`,
    });
  }
  const extraMessages: string[] = [];
  for (let i = 1; i <= (opts.messageReplicas ?? 0); i++) {
    const name = `message-${i}`;
    const grpc = await freePort();
    const http = await freePort();
    const base = procs.get('message')!;
    procs.set(name, {
      name,
      service: 'message',
      script: base.script,
      env: { ...base.env, MESSAGE_GRPC_PORT: String(grpc), MESSAGE_HTTP_PORT: String(http) },
      readyUrl: `http://127.0.0.1:${http}/readyz`,
    });
    extraMessages.push(name);
  }
  gwPorts.forEach((port, i) => {
    const name = `gateway-${i}`;
    procs.set(name, {
      name,
      service: 'gateway',
      script: join(root, 'services', 'gateway', 'dist', 'main.js'),
      env: {
        ...shared,
        GATEWAY_HOST: expose ? '0.0.0.0' : '127.0.0.1',
        GATEWAY_PORT: String(port),
        GATEWAY_INSTANCE_ID: `${id}-gw${i}`,
        GATEWAY_SESSION_ADDR: addr('session'),
        GATEWAY_GROUP_ADDR: addr('group'),
        GATEWAY_MESSAGE_ADDR: addr('message'),
        GATEWAY_PRESENCE_ADDR: addr('presence'),
        GATEWAY_MEDIA_ADDR: addr('media'),
        GATEWAY_PUSH_ADDR: addr('push'),
        PARLEY_MESH_TLS_DIR: tlsDir('gateway'),
        // The web client served at / may move its WebSocket to any of the mesh's gateways (web/README.md).
        GATEWAY_WEB_GATEWAYS: gwPorts.map((p) => `http://127.0.0.1:${p}`).join(','),
        // glibc's per-thread malloc arenas fragment a process holding tens of thousands of sockets; two
        // arenas keep the gateway's resident memory close to its heap (docs/operations.md, "Gateway memory").
        MALLOC_ARENA_MAX: '2',
        ...(opts.env ?? {}),
      },
      readyUrl: `http://127.0.0.1:${port}/readyz`,
    });
  });

  const logFile = (name: string) => join(logDir, `${name}.log`);

  const images = opts.images;
  const podman = images?.podman ?? 'podman';
  const podmanEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...(images?.env ?? {}) };
  const containerName = (p: Proc) => `parley-${id}-${p.name}`;

  function spawnImage(p: Proc): void {
    p.log = createWriteStream(logFile(p.name), { flags: 'a' });
    const image = `${images!.repository ?? 'localhost/parley'}/${p.service}:${images!.tag ?? 'dev'}`;
    const envArgs = Object.entries(p.env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    const child = spawn(
      podman,
      [
        'run', '--rm', '--name', containerName(p), '--network', 'host', '--read-only', '--tmpfs', '/tmp', '--pull', 'never',
        '-v', `${pki.dirOf(p.service)}:${CONTAINER_TLS_DIR}:ro`, ...envArgs, image,
      ],
      { env: podmanEnv, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.pipe(p.log, { end: false });
    child.stderr?.pipe(p.log, { end: false });
    p.child = child;
    p.exited = new Promise((r) => child.once('exit', () => r()));
  }

  function spawnProc(p: Proc): void {
    if (images) return spawnImage(p);
    if (!existsSync(p.script)) throw new Error(`${p.script} is missing: run \`pnpm exec tsc --build\` first`);
    p.log = createWriteStream(logFile(p.name), { flags: 'a' });
    // PARLEY_MESH_NODE_ARGS: extra node flags for every service process (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`
    // to profile a bench run).
    const extra = (process.env.PARLEY_MESH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    // The caller's environment reaches every service (so `SESSION_MAX_DEVICES_PER_USER=3 ./parley up` works);
    // the mesh's own settings (ports, addresses, keyspace, bind addresses) win over it.
    const child = spawn(process.execPath, ['--enable-source-maps', ...extra, p.script], {
      cwd: root,
      env: { ...process.env, ...p.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(p.log, { end: false });
    child.stderr?.pipe(p.log, { end: false });
    p.child = child;
    p.exited = new Promise((r) => child.once('exit', () => r()));
  }

  async function waitReady(p: Proc): Promise<void> {
    const t0 = Date.now();
    let exited = false;
    void p.exited?.then(() => (exited = true));
    while (Date.now() - t0 < readyTimeoutMs) {
      if (exited) throw new Error(`${p.name} exited during start; log ${logFile(p.name)}:\n${tail(logFile(p.name))}`);
      try {
        const res = await fetch(p.readyUrl, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) {
          progress(`[mesh] ${p.name} ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
          return;
        }
      } catch {
        /* not listening yet */
      }
      await sleep(200);
    }
    throw new Error(`${p.name} not ready after ${readyTimeoutMs} ms; log ${logFile(p.name)}:\n${tail(logFile(p.name))}`);
  }

  async function startOne(name: string): Promise<void> {
    const p = procs.get(name);
    if (!p) throw new Error(`unknown process ${name}`);
    if (p.child && p.child.exitCode === null && p.child.signalCode === null) return;
    spawnProc(p);
    await waitReady(p);
  }

  async function killOne(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = procs.get(name);
    if (!p?.child || p.child.exitCode !== null || p.child.signalCode !== null) return;
    // A container gets the signal through podman (tini, PID 1, forwards it to node).
    const send = (sig: NodeJS.Signals) =>
      images ? void spawn(podman, ['kill', '--signal', sig, containerName(p)], { env: podmanEnv, stdio: 'ignore' }) : p.child!.kill(sig);
    send(signal);
    const bound = signal === 'SIGKILL' ? 5000 : 30_000;
    await Promise.race([p.exited, sleep(bound)]);
    if (p.child.exitCode === null && p.child.signalCode === null) {
      send('SIGKILL');
      await Promise.race([p.exited, sleep(10_000)]);
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    p.log?.end();
  }

  const mesh: Mesh = {
    id,
    gatewayUrls: gwPorts.map((p) => `http://127.0.0.1:${p}`),
    wsUrls: gwPorts.map((p) => `ws://127.0.0.1:${p}/v1/ws`),
    env: shared,
    names: () => [...procs.keys()],
    kill: killOne,
    start: startOne,
    restart: async (name) => {
      await killOne(name, 'SIGTERM');
      await startOne(name);
    },
    stop: async () => {
      const gws = [...procs.keys()].filter((n) => n.startsWith('gateway-'));
      await Promise.all(gws.map((n) => killOne(n, 'SIGTERM')));
      await Promise.all([...services, ...extraMessages].map((n) => killOne(n, 'SIGTERM')));
      await pushFakes?.close();
      // A test mesh's keyspace goes with it: hundreds of leftover keyspaces make every later schema change
      // on the one local Cassandra slow (a full `./parley test` starts dozens of meshes).
      if (!fixed) await Promise.all([dropKeyspace(shared).catch(() => {}), dropTopics(shared).catch(() => {})]);
    },
    logFile,
    pid: (name) => procs.get(name)?.child?.pid,
    container: (name) => (images && procs.has(name) ? containerName(procs.get(name)!) : undefined),
    readyUrl: (name) => procs.get(name)?.readyUrl,
    envOf: (name) => procs.get(name)?.env,
    ...(pushFakes ? { pushFakes } : {}),
    pki,
  };

  try {
    // session first: it creates the keyspace; the rest in parallel; gateways last.
    if (services.includes('session')) await startOne('session');
    await Promise.all(services.filter((s) => s !== 'session').map((s) => startOne(s)));
    await Promise.all(extraMessages.map((n) => startOne(n)));
    await Promise.all(gwPorts.map((_, i) => startOne(`gateway-${i}`)));
  } catch (err) {
    await mesh.stop();
    throw err;
  }
  return mesh;
}
