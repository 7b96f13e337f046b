// The push service: registrations (gRPC RegisterPush / UnregisterPush / GetVapidPublicKey), the push.requests.v1
// consumer (collapse per (device, chat), per-provider lanes with retries) and the providers: FCM HTTP v1, APNs
// (HTTP/2, token auth), Web Push (VAPID + aes128gcm) and signed webhooks. A provider without credentials is
// disabled and says so at start; its registrations are accepted but not delivered. Retries go through
// push.retry.v1 (durable across a crash); a provider whose credentials are refused is re-probed with backoff.
import {
  checks,
  createClient,
  createGrpcServer,
  createLogger,
  createMetrics,
  ensureTopics,
  EventProducer,
  keyspaceMigrator,
  Lifecycle,
  LifecycleService,
  openCassandra,
  openKafka,
  TOPICS,
  topicSpecs,
  type Kafka,
  type Logger,
  type Metrics,
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

export class PushService extends LifecycleService {
  private consumers?: { stop(): Promise<void>; inFlight(): number; retriesInFlight(): number };
  private sample?: NodeJS.Timeout;

  private constructor(
    readonly cfg: PushConfig,
    readonly logger: Logger,
    readonly policy: AddressPolicy,
    readonly life: Lifecycle,
  ) {
    super();
  }

  static readonly migrate = keyspaceMigrator('push');

  static async create(cfg: PushConfig, opts: { migrationsDir: string; logger?: Logger; host?: string }): Promise<PushService> {
    const logger = opts.logger ?? createLogger('push', cfg.logLevel);
    const host = opts.host ?? cfg.host;
    await PushService.migrate(cfg, opts.migrationsDir, logger);
    const kafka = openKafka(cfg, 'push', logger);
    const cassandra = openCassandra(cfg);
    const policy = new AddressPolicy(cfg.outboundAllow);
    const http = new HttpClient(policy, cfg.requestTimeoutMs);
    const metrics = createMetrics('push');
    const store = new RegistrationStore(cassandra);
    const providers = buildProviders(cfg, http, logger);
    const dm = dispatchMetrics(metrics);
    const producer = new EventProducer(kafka, logger);
    const dispatcher = new Dispatcher(providers, {
      concurrency: cfg.concurrencyPerProvider,
      queueLimit: cfg.queuePerProvider,
      maxAttempts: cfg.maxAttempts,
      retryBaseMs: cfg.retryBaseMs,
      retryMaxMs: cfg.retryMaxMs,
      reprobeBaseMs: cfg.reprobeBaseMs,
      reprobeMaxMs: cfg.reprobeMaxMs,
      logger: logger.child({ subsystem: 'dispatcher' }),
      metrics: dm,
      onDeadToken: (reg) => store.removeDead(reg),
      defer: retryProducer(producer, cfg.namespace),
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
    const session = cfg.sessionAddr ? createClient(sessionV1.SessionService, cfg.sessionAddr, { deadlineMs: 2000, logger }) : undefined;
    const worker = new PushWorker({
      registrations: store,
      dispatcher,
      names: new SessionSenderNames(session),
      content: { previews: cfg.previews, previewMaxChars: cfg.previewMaxChars },
      collapseWindowMs: cfg.collapseWindowMs,
      maxAgeMs: cfg.maxAgeMs,
      logger,
      metrics: {
        requestLag: (sec) => lag.observe({}, sec),
        skipped: (r) => skipped.inc({ reason: r }),
        collapsed: () => collapsed.inc(),
        result: (r) => results.inc({ result: r }),
      },
    });
    const resumed = metrics.counter('parley_push_retries_resumed_total', 'Deferred attempts taken from push.retry.v1 and sent again', ['provider']);
    const retries = new RetryWorker({
      registrations: store,
      dispatcher,
      coveredSeq: (deviceId, chatId) => worker.coveredSeq(deviceId, chatId),
      maxAgeMs: cfg.maxAgeMs,
      metrics: {
        resumed: (p) => resumed.inc({ provider: p }),
        skipped: (r) => skipped.inc({ reason: `retry_${r}` }),
        result: (r) => results.inc({ result: r }),
      },
    });
    const grpc = createGrpcServer({ logger, metrics });
    grpc.addService(pushV1.PushService, pushHandlers({ store, policy, vapidPublicKey: cfg.vapidPublicKey }));

    const life = new Lifecycle({ name: 'push', logger, grpc, checks: { cassandra: checks.cassandra(cassandra), kafka: checks.kafka(kafka) } });
    const svc = new PushService(cfg, logger, policy, life);
    const inflight = metrics.gauge('parley_push_in_flight', 'Push requests not settled yet (held, queued, sending)');
    const retrying = metrics.gauge('parley_push_retries_pending', 'Records of push.retry.v1 held by this process (waiting or sending)');
    const streaks = metrics.gauge('parley_push_collapse_streaks', 'Open collapse windows (device, chat)');
    life
      .startReadiness()
      .onStart('topics', () => svc.ensureTopics(kafka))
      .onStart('consumers', async () => {
        svc.consumers = await startPushConsumers({
          kafka,
          namespace: cfg.namespace,
          worker,
          retries,
          store,
          logger,
          maxInFlight: cfg.maxInFlight,
          retryMaxInFlight: cfg.retryMaxInFlight,
          partitionsConsumedConcurrently: cfg.kafkaTopicPartitions,
          onUnreadableRetry: () => skipped.inc({ reason: 'retry_unreadable' }),
        });
      })
      .onStart('gauges', () => {
        svc.sample = setInterval(() => {
          inflight.set(svc.consumers?.inFlight() ?? 0);
          retrying.set(svc.consumers?.retriesInFlight() ?? 0);
          streaks.set(worker.openStreaks);
        }, 2000);
        svc.sample.unref();
      })
      .listenGrpc(host, cfg.grpcPort)
      .serveOps(host, cfg.httpPort, metrics.registry);
    life
      .onStop('workers', () => {
        worker.close();
        retries.close();
        dispatcher.close();
      })
      .onStop('consumers', () => svc.consumers?.stop().catch(() => {}))
      .onStop('producer', () => producer.disconnect().catch(() => {}))
      .stopGrpc()
      .stopOps()
      .onStop('providers', () => Promise.all(providers.map((p) => p.close?.())))
      .onStop('http', () => http.close())
      .onStop('gauges', () => svc.sample && clearInterval(svc.sample))
      .onStop('cassandra', () => cassandra.shutdown());
    return svc;
  }

  private async ensureTopics(kafka: Kafka): Promise<void> {
    const topics = topicSpecs(this.cfg, [TOPICS.pushRequests, TOPICS.pushRetry, TOPICS.sessionEvents]);
    // The message service creates the same topics; a concurrent creation is retried once.
    try {
      await ensureTopics(kafka, topics);
    } catch {
      await new Promise((r) => setTimeout(r, 1000));
      await ensureTopics(kafka, topics);
    }
  }
}
