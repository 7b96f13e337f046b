// The push service: registrations (gRPC RegisterPush / UnregisterPush / GetVapidPublicKey), the push.requests.v1
// consumer (collapse per (device, chat), per-provider lanes with retries) and the providers: FCM HTTP v1, APNs
// (HTTP/2, token auth), Web Push (VAPID + aes128gcm) and signed webhooks. A provider without credentials is
// disabled and says so at start; its registrations are accepted but not delivered. Retries go through
// push.retry.v1 (durable across a crash); a provider whose credentials are refused is re-probed with backoff.
import {
  cassandraSettings,
  checks,
  createCassandra,
  createClient,
  createGrpcServer,
  createKafka,
  createLogger,
  createMetrics,
  ensureTopics,
  EventProducer,
  kafkaCheck,
  loadMigrations,
  nsTopic,
  once,
  readinessMonitor,
  runMigrations,
  startOpsServer,
  TOPICS,
  type CassandraClient,
  type GrpcServer,
  type Logger,
  type Metrics,
  type OpsServer,
  type ReadinessMonitor,
} from '@parley/kit';
import { pushV1, sessionV1 } from '@parley/proto';
import type { PushConfig } from './config.js';
import { AddressPolicy } from './domain/address-policy.js';
import { Dispatcher, type DispatchMetrics } from './domain/dispatcher.js';
import { PushWorker } from './domain/push-worker.js';
import { RetryWorker } from './domain/retry-worker.js';
import { PLATFORMS, type Provider } from './domain/types.js';
import { ApnsProvider } from './adapters/providers/apns.js';
import { FcmProvider, parseServiceAccount } from './adapters/providers/fcm.js';
import { HttpClient } from './adapters/providers/http-client.js';
import { WebhookProvider } from './adapters/providers/webhook.js';
import { WebPushProvider } from './adapters/providers/webpush.js';
import { RegistrationStore } from './adapters/registrations.js';
import { SessionSenderNames } from './adapters/sender-names.js';
import { pushHandlers } from './api/grpc/push-handlers.js';
import { startPushConsumers } from './api/kafka/consumers.js';
import { retryProducer } from './adapters/retries.js';

/** Builds the configured providers; a missing or malformed credential disables that provider, loudly. */
export function buildProviders(cfg: PushConfig, http: HttpClient, logger: Logger): Provider[] {
  const out: Provider[] = [];
  const off = (name: string, why: string) => logger.warn({ provider: name }, `push provider ${name} disabled: ${why}`);
  if (cfg.fcmServiceAccount) {
    try {
      out.push(new FcmProvider(http, parseServiceAccount(cfg.fcmServiceAccount), cfg.fcmBaseUrl));
    } catch (err) {
      logger.error({ provider: 'fcm' }, `push provider fcm disabled: ${(err as Error).message}`);
    }
  } else off('fcm', 'PUSH_FCM_SERVICE_ACCOUNT is not set');
  if (cfg.apnsKey && cfg.apnsKeyId && cfg.apnsTeamId && cfg.apnsTopic) {
    out.push(
      new ApnsProvider({
        key: cfg.apnsKey,
        keyId: cfg.apnsKeyId,
        teamId: cfg.apnsTeamId,
        topic: cfg.apnsTopic,
        baseUrl: cfg.apnsBaseUrl,
        timeoutMs: cfg.requestTimeoutMs,
      }),
    );
  } else off('apns', 'PUSH_APNS_KEY, PUSH_APNS_KEY_ID, PUSH_APNS_TEAM_ID and PUSH_APNS_TOPIC are not all set');
  if (cfg.vapidPublicKey && cfg.vapidPrivateKey) {
    try {
      out.push(new WebPushProvider(http, { publicKey: cfg.vapidPublicKey, privateKey: cfg.vapidPrivateKey, subject: cfg.vapidSubject }));
    } catch (err) {
      logger.error({ provider: 'webpush' }, `push provider webpush disabled: ${(err as Error).message}`);
    }
  } else off('webpush', 'PUSH_VAPID_PUBLIC_KEY and PUSH_VAPID_PRIVATE_KEY are not set');
  if (cfg.webhookSecret) out.push(new WebhookProvider(http, cfg.webhookSecret));
  else off('webhook', 'PUSH_WEBHOOK_SECRET is not set');
  logger.info({ providers: out.map((p) => p.name), extraCaCerts: cfg.extraCaCerts ?? null }, 'push providers enabled');
  return out;
}

function dispatchMetrics(m: Metrics): DispatchMetrics {
  const sent = m.counter('parley_push_sent_total', 'Notifications accepted by the provider', ['provider']);
  const failed = m.counter('parley_push_failed_total', 'Notifications not delivered, by reason', ['provider', 'reason']);
  const retried = m.counter('parley_push_retried_total', 'Send attempts retried, by reason', ['provider', 'reason']);
  const invalidated = m.counter('parley_push_invalidated_total', 'Registrations deleted because the provider declared the token dead', ['provider']);
  const latency = m.histogram('parley_push_send_seconds', 'Provider request latency of successful sends', ['provider']);
  const enabled = m.gauge('parley_push_provider_enabled', '1 if the provider is configured and its credentials work', ['provider']);
  for (const p of PLATFORMS) enabled.set({ provider: p }, 0);
  return {
    sent: (provider, s) => {
      sent.inc({ provider });
      latency.observe({ provider }, s);
    },
    failed: (provider, reason) => failed.inc({ provider, reason }),
    retried: (provider, reason) => retried.inc({ provider, reason }),
    invalidated: (provider) => invalidated.inc({ provider }),
    enabled: (provider, on) => enabled.set({ provider }, on ? 1 : 0),
  };
}

export class PushService {
  private grpc?: GrpcServer;
  private ops?: OpsServer;
  private readiness?: ReadinessMonitor;
  private consumers?: { stop(): Promise<void>; inFlight(): number; retriesInFlight(): number };
  private worker?: PushWorker;
  private retries?: RetryWorker;
  private producer?: EventProducer;
  private dispatcher?: Dispatcher;
  private providers: Provider[] = [];
  private readonly http: HttpClient;
  readonly policy: AddressPolicy;
  readonly destroy: () => Promise<void>;

  private constructor(
    readonly cfg: PushConfig,
    readonly logger: Logger,
    private readonly cassandra: CassandraClient,
    private readonly kafka: ReturnType<typeof createKafka>,
  ) {
    this.policy = new AddressPolicy(cfg.outboundAllow);
    this.http = new HttpClient(this.policy, cfg.requestTimeoutMs);
    this.destroy = once(async () => {
      this.readiness?.drain();
      this.readiness?.stop();
      this.worker?.close();
      this.retries?.close();
      this.dispatcher?.close();
      await this.consumers?.stop().catch(() => {});
      await this.producer?.disconnect().catch(() => {});
      await this.grpc?.shutdown(10_000);
      await this.ops?.close();
      await Promise.all(this.providers.map((p) => p.close?.()));
      this.http.close();
      await this.cassandra.shutdown();
    });
  }

  static async migrate(cfg: PushConfig, migrationsDir: string, logger: Logger): Promise<void> {
    await runMigrations({ settings: cassandraSettings(cfg), service: 'push', migrations: loadMigrations(migrationsDir), logger });
  }

  static async create(cfg: PushConfig, opts: { migrationsDir: string; logger?: Logger }): Promise<PushService> {
    const logger = opts.logger ?? createLogger('push', cfg.logLevel);
    await PushService.migrate(cfg, opts.migrationsDir, logger);
    const kafka = createKafka({ brokers: cfg.kafkaBrokers, clientId: 'push', logger });
    return new PushService(cfg, logger, createCassandra(cassandraSettings(cfg)), kafka);
  }

  private async ensureTopics(): Promise<void> {
    const topics = [TOPICS.pushRequests, TOPICS.pushRetry, TOPICS.sessionEvents].map((t) => ({
      topic: nsTopic(this.cfg.namespace, t),
      numPartitions: this.cfg.kafkaTopicPartitions,
      replicationFactor: this.cfg.kafkaReplicationFactor,
    }));
    // The message service creates the same topics; a concurrent creation is retried once.
    try {
      await ensureTopics(this.kafka, topics);
    } catch {
      await new Promise((r) => setTimeout(r, 1000));
      await ensureTopics(this.kafka, topics);
    }
  }

  async start(): Promise<void> {
    const metrics = createMetrics('push');
    const store = new RegistrationStore(this.cassandra);
    this.providers = buildProviders(this.cfg, this.http, this.logger);
    const dm = dispatchMetrics(metrics);
    this.producer = new EventProducer(this.kafka, this.logger);
    this.dispatcher = new Dispatcher(this.providers, {
      concurrency: this.cfg.concurrencyPerProvider,
      queueLimit: this.cfg.queuePerProvider,
      maxAttempts: this.cfg.maxAttempts,
      retryBaseMs: this.cfg.retryBaseMs,
      retryMaxMs: this.cfg.retryMaxMs,
      reprobeBaseMs: this.cfg.reprobeBaseMs,
      reprobeMaxMs: this.cfg.reprobeMaxMs,
      logger: this.logger.child({ subsystem: 'dispatcher' }),
      metrics: dm,
      onDeadToken: (reg) => store.removeDead(reg),
      defer: retryProducer(this.producer, this.cfg.namespace),
    });
    const skipped = metrics.counter('parley_push_skipped_total', 'Push requests with nothing to send', ['reason']);
    const collapsed = metrics.counter('parley_push_collapsed_total', 'Push requests folded into a pending notification');
    const results = metrics.counter('parley_push_results_total', 'Settled notifications by result', ['result']);
    const lag = metrics.histogram(
      'parley_push_request_lag_seconds',
      'Message created → its push request taken by push (send path, fan-out, Kafka)',
      [],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60],
    );
    const session = this.cfg.sessionAddr
      ? createClient(sessionV1.SessionService, this.cfg.sessionAddr, { deadlineMs: 2000, logger: this.logger })
      : undefined;
    this.worker = new PushWorker({
      registrations: store,
      dispatcher: this.dispatcher,
      names: new SessionSenderNames(session),
      content: { previews: this.cfg.previews, previewMaxChars: this.cfg.previewMaxChars },
      collapseWindowMs: this.cfg.collapseWindowMs,
      maxAgeMs: this.cfg.maxAgeMs,
      logger: this.logger,
      metrics: {
        requestLag: (sec) => lag.observe({}, sec),
        skipped: (r) => skipped.inc({ reason: r }),
        collapsed: () => collapsed.inc(),
        result: (r) => results.inc({ result: r }),
      },
    });

    const resumed = metrics.counter('parley_push_retries_resumed_total', 'Deferred attempts taken from push.retry.v1 and sent again', ['provider']);
    const worker0 = this.worker;
    this.retries = new RetryWorker({
      registrations: store,
      dispatcher: this.dispatcher,
      coveredSeq: (deviceId, chatId) => worker0.coveredSeq(deviceId, chatId),
      maxAgeMs: this.cfg.maxAgeMs,
      metrics: {
        resumed: (p) => resumed.inc({ provider: p }),
        skipped: (r) => skipped.inc({ reason: `retry_${r}` }),
        result: (r) => results.inc({ result: r }),
      },
    });

    this.grpc = createGrpcServer({ logger: this.logger, metrics });
    this.grpc.addService(pushV1.PushService, pushHandlers({ store, policy: this.policy, vapidPublicKey: this.cfg.vapidPublicKey }));
    const grpc = this.grpc;
    this.readiness = readinessMonitor({
      logger: this.logger,
      checks: { cassandra: checks.cassandra(this.cassandra), kafka: kafkaCheck(this.kafka) },
      onChange: (ready) => grpc.health.set('', ready ? 'SERVING' : 'NOT_SERVING'),
    });
    await this.ensureTopics();
    const worker = this.worker;
    this.consumers = await startPushConsumers({
      kafka: this.kafka,
      namespace: this.cfg.namespace,
      worker,
      retries: this.retries,
      store,
      logger: this.logger,
      maxInFlight: this.cfg.maxInFlight,
      retryMaxInFlight: this.cfg.retryMaxInFlight,
      partitionsConsumedConcurrently: this.cfg.kafkaTopicPartitions,
      onUnreadableRetry: () => skipped.inc({ reason: 'retry_unreadable' }),
    });
    const inflight = metrics.gauge('parley_push_in_flight', 'Push requests not settled yet (held, queued, sending)');
    const retrying = metrics.gauge('parley_push_retries_pending', 'Records of push.retry.v1 held by this process (waiting or sending)');
    const streaks = metrics.gauge('parley_push_collapse_streaks', 'Open collapse windows (device, chat)');
    const sample = setInterval(() => {
      inflight.set(this.consumersInFlight());
      retrying.set(this.consumers?.retriesInFlight() ?? 0);
      streaks.set(worker.openStreaks);
    }, 2000);
    sample.unref();
    await this.grpc.listen(this.cfg.host, this.cfg.grpcPort);
    this.ops = await startOpsServer({ host: this.cfg.host, port: this.cfg.httpPort, logger: this.logger, registry: metrics.registry, readiness: this.readiness });
  }

  private consumersInFlight(): number {
    return this.consumers?.inFlight() ?? 0;
  }
}
