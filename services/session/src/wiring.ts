// The session service: accounts, devices, tokens and the live connection registry.
import {
  checks,
  createGrpcServer,
  createLogger,
  createMetrics,
  createRedis,
  EventProducer,
  keyspaceMigrator,
  Lifecycle,
  LifecycleService,
  openCassandra,
  openKafka,
  type Logger,
} from '@parley/kit';
import { sessionV1 } from '@parley/proto';
import type { SessionConfig } from './config.js';
import { availableParallelism } from 'node:os';
import { KeySealer } from './domain/key-sealer.js';
import { meetsOwasp, type PasswordHasher, type ScryptParams } from './domain/passwords.js';
import type { AccountsPort, KeysPort } from './domain/ports.js';
import { HashPool } from './adapters/hash-pool.js';
import { KEY_RELOAD_MS } from './domain/keyring.js';
import { SessionManager } from './domain/session-manager.js';
import { TokenIssuer } from './domain/token-issuer.js';
import { AccountsStore } from './adapters/accounts-store.js';
import { KeysStore } from './adapters/keys-store.js';
import { SessionNotifier } from './adapters/notifier.js';
import { ConnectionRegistry } from './adapters/registry.js';
import { sessionServiceImpl } from './api/grpc/session-service.js';

/**
 * Refuses settings that must not reach production: a password hash cost below OWASP's minimum and signing keys
 * stored without the key-encryption secret. PARLEY_ENV=development|test allows them, with a warning.
 */
export function checkSecurity(cfg: SessionConfig, logger: Logger): ScryptParams {
  if ((cfg.scryptCost & (cfg.scryptCost - 1)) !== 0) throw new Error(`SESSION_SCRYPT_COST must be a power of two, got ${cfg.scryptCost}`);
  const params: ScryptParams = { N: cfg.scryptCost, r: 8, p: cfg.scryptParallelism };
  const problems: string[] = [];
  if (!meetsOwasp(params)) {
    problems.push(
      `SESSION_SCRYPT_COST=${params.N} with SESSION_SCRYPT_PARALLELISM=${params.p} is below OWASP's minimum for scrypt (N=2^14 with p>=5, N=2^15 with p>=3, N=2^16 with p>=2 or N=2^17)`,
    );
  }
  if (!cfg.signingKeySecret) problems.push('SESSION_SIGNING_KEY_SECRET is not set: signing keys would be stored unencrypted');
  if (problems.length > 0) {
    if (cfg.environment === 'production') {
      throw new Error(`refusing to start in production (PARLEY_ENV=production): ${problems.join('; ')}. Fix them, or set PARLEY_ENV=development or test on a machine that is neither.`);
    }
    for (const p of problems) logger.warn(`PARLEY_ENV=${cfg.environment}: ${p} (allowed outside production only)`);
  }
  return params;
}

/** Adapters a test (or another deployment) may replace; the rest of the wiring stays the same. */
export interface SessionAdapters {
  accounts: AccountsPort;
  keys: KeysPort;
  hasher: PasswordHasher & { calibrate(): Promise<unknown>; close(): Promise<unknown> };
}

export interface SessionServiceOverrides {
  /** Folder of the CQL migrations (main.ts passes the packaged one). */
  migrationsDir: string;
  logger?: Logger;
  /** Host to bind (default: SESSION_HOST). */
  host?: string;
  adapters?: Partial<SessionAdapters>;
}

export class SessionService extends LifecycleService {
  private keyTimer?: NodeJS.Timeout;

  private constructor(
    readonly cfg: SessionConfig,
    readonly logger: Logger,
    readonly manager: SessionManager,
    readonly issuer: TokenIssuer,
    readonly life: Lifecycle,
  ) {
    super();
  }

  static readonly migrate = keyspaceMigrator('session');

  static async create(cfg: SessionConfig, overrides: SessionServiceOverrides): Promise<SessionService> {
    const logger = overrides.logger ?? createLogger('session', cfg.logLevel);
    const host = overrides.host ?? cfg.host;
    const scryptParams = checkSecurity(cfg, logger);
    await SessionService.migrate(cfg, overrides.migrationsDir, logger);
    const metrics = createMetrics('session');
    const outcomes = metrics.counter('parley_session_outcomes_total', 'Account, login, refresh and device outcomes', ['outcome']);
    const events = metrics.counter('parley_session_events_published_total', 'session.events.v1 publications', ['result']);
    const rotations = metrics.counter('parley_session_key_rotations_total', 'Signing keys this replica made current');

    const cassandra = openCassandra(cfg);
    const redis = createRedis(cfg.redisUrl, { logger, name: 'session', autoPipelining: true });
    const kafka = openKafka(cfg, 'session', logger);
    const producer = new EventProducer(kafka, logger);
    const registry = new ConnectionRegistry(redis, cfg.namespace);
    const issuer = new TokenIssuer(overrides.adapters?.keys ?? new KeysStore(cassandra), {
      issuer: cfg.jwtIssuer,
      audience: cfg.jwtAudience,
      accessTtlSeconds: cfg.accessTokenTtlSeconds,
      rotationMs: cfg.keyRotationHours * 3_600_000,
      sealer: new KeySealer(cfg.signingKeySecret),
      onRotated: (kid) => {
        rotations.inc();
        logger.info({ kid }, 'signing key rotated');
      },
    });
    const notifier = new SessionNotifier(registry, kafka, producer, logger.child({ subsystem: 'events' }), {
      namespace: cfg.namespace,
      partitions: cfg.kafkaTopicPartitions,
      replicationFactor: cfg.kafkaReplicationFactor,
      onEventResult: (ok) => events.inc({ result: ok ? 'ok' : 'failed' }),
    });
    const hashes = metrics.counter('parley_session_password_hashes_total', 'Password hash jobs, by result (ran | refused)', ['result']);
    const hashSeconds = metrics.histogram('parley_session_password_hash_seconds', 'Run time of one password hash job');
    const pool =
      overrides.adapters?.hasher ??
      new HashPool({
        params: scryptParams,
        // Default: one per CPU, at most 4 (each hash holds 16 MiB at the default cost; the chart's limit is 512 MiB).
        workers: cfg.hashWorkers || Math.min(4, Math.max(1, availableParallelism())),
        maxWaitMs: cfg.hashMaxWaitMs,
        logger: logger.child({ subsystem: 'hash-pool' }),
        observe: (o, ms) => {
          hashes.inc({ result: o });
          if (ms !== undefined) hashSeconds.observe(ms / 1000);
        },
      });
    const manager = new SessionManager(overrides.adapters?.accounts ?? new AccountsStore(cassandra), registry, issuer, notifier, {
      refreshTtlMs: cfg.refreshTokenTtlDays * 86_400_000,
      connectionTtlSeconds: cfg.connectionTtlSeconds,
      hasher: pool,
      maxDevices: cfg.maxDevicesPerUser,
      observe: (outcome) => outcomes.inc({ outcome }),
    });
    const grpc = createGrpcServer({ logger, metrics });
    grpc.addService(sessionV1.SessionService, sessionServiceImpl(manager, issuer, { issuer: cfg.jwtIssuer, audience: cfg.jwtAudience }));

    const life = new Lifecycle({ name: 'session', logger, grpc, checks: { cassandra: checks.cassandra(cassandra), redis: checks.redis(redis) } });
    const svc = new SessionService(cfg, logger, manager, issuer, life);
    life
      // The first replica creates the signing key (LWT); the others load it.
      .onStart('signing keys', () => issuer.refresh())
      .onStart('hash pool', () => pool.calibrate())
      .onStart('key reload', () => {
        svc.keyTimer = setInterval(() => {
          issuer.refresh().catch((err: unknown) => logger.warn({ err }, 'signing key refresh failed'));
        }, KEY_RELOAD_MS);
        svc.keyTimer.unref();
      })
      // Kafka is not a readiness condition: session events are best effort, logins must keep working.
      .onStart('events topic', () => void notifier.ensureTopic())
      .startReadiness()
      .listenGrpc(host, cfg.grpcPort)
      .serveOps(host, cfg.httpPort, metrics.registry);
    life
      .onStop('key reload', () => svc.keyTimer && clearInterval(svc.keyTimer))
      .stopGrpc()
      .stopOps()
      .onStop('hash pool', () => pool.close())
      .onStop('events', () => notifier.flush(5_000))
      .onStop('producer', () => producer.disconnect().catch(() => {}))
      .onStop('redis', () => redis.disconnect())
      .onStop('cassandra', () => cassandra.shutdown());
    return svc;
  }
}
