// Kafka (kafkajs): protobuf-encoded events, an idempotent producer (acks = all), consumers that commit
// only after their effect, and a `<topic>.dlq` dead-letter topic so a poison event never blocks a partition.
import kafkajs from 'kafkajs';
import type { Admin, Consumer, Kafka, KafkaMessage, Message, Producer, IHeaders, ISocketFactory, logLevel as LogLevel } from 'kafkajs';
import net from 'node:net';
import tls from 'node:tls';
import { fromBinary, toBinary, create, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { ParleyError, asParleyError } from './errors.js';
import { nsTopic } from './config.js';
import { kitMetrics } from './metrics.js';

const { Kafka: KafkaClass, logLevel } = kafkajs;
export type { Kafka } from 'kafkajs';

/** The event topics (docs/architecture.md); apply `nsTopic` for a namespace. */
export const TOPICS = {
  chatMessages: 'chat.messages.v1',
  chatReceipts: 'chat.receipts.v1',
  /** The messages of chat.messages.v1 that carry attachments, and only those (consumed by media). */
  chatMedia: 'chat.media.v1',
  sessionEvents: 'session.events.v1',
  pushRequests: 'push.requests.v1',
  /** Push notifications waiting for a later attempt (owned by push). */
  pushRetry: 'push.retry.v1',
} as const;

/** Longest an idle consumer fetch waits at the broker (kafkajs default: 5,000 ms). */
export const CONSUMER_MAX_WAIT_MS = 500;

export function dlqTopic(topic: string): string {
  return `${topic}.dlq`;
}

function logCreator(logger: Logger) {
  const log = logger.child({ subsystem: 'kafka' });
  return () =>
    ({ level, log: entry }: { level: LogLevel; log: { message: string; [k: string]: unknown } }) => {
      const { message, ...rest } = entry;
      delete rest.timestamp;
      delete rest.logger;
      if (level === logLevel.ERROR) log.error(rest, message);
      else if (level === logLevel.WARN) log.warn(rest, message);
      else if (level === logLevel.INFO) log.debug(rest, message);
      else log.trace(rest, message);
    };
}

/**
 * kafkajs's own socket factory without Nagle's algorithm: kafkajs never sets TCP_NODELAY, so a request written
 * while an earlier one on the same connection is unacknowledged (a produce behind a fetch, a commit behind a
 * heartbeat) waits for the peer's delayed ACK. Everything else in the mesh (grpc-js clients, ws, ioredis,
 * cassandra-driver) already writes without delay.
 */
export const noDelaySocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tls.connect(Object.assign({ host, port }, !net.isIP(host) ? { servername: host } : {}, ssl), onConnect)
    : net.connect({ host, port }, onConnect);
  socket.setKeepAlive(true, 60_000);
  socket.setNoDelay(true);
  return socket;
};

export function createKafka(opts: { brokers: string[]; clientId: string; logger: Logger }): Kafka {
  return new KafkaClass({
    clientId: opts.clientId,
    brokers: opts.brokers,
    socketFactory: noDelaySocketFactory,
    logLevel: logLevel.INFO,
    logCreator: logCreator(opts.logger),
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { initialRetryTime: 200, retries: 5, maxRetryTime: 3000 },
  });
}

/** The service's Kafka client from its config (`infraEnv.kafka`), named `clientId` to the brokers. */
export function openKafka(cfg: { kafkaBrokers: string[] }, clientId: string, logger: Logger): Kafka {
  return createKafka({ brokers: cfg.kafkaBrokers, clientId, logger });
}

export interface TopicSpec {
  topic: string;
  numPartitions?: number;
  replicationFactor?: number;
}

/** Creates the topics (and their `.dlq` twins) that do not exist yet. */
/** True once every topic exists and has metadata (leaders), retrying for up to ~10 s. */
async function topicsSettle(admin: Admin, topics: string[]): Promise<boolean> {
  for (let i = 0; i < 20; i++) {
    try {
      const have = new Set(await admin.listTopics());
      if (topics.every((t) => have.has(t))) {
        await admin.fetchTopicMetadata({ topics });
        return true;
      }
    } catch {
      /* leaders not elected yet: retry */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

/**
 * Runs a start-up step against the brokers, retrying while it fails with a retriable Kafka error (a topic that
 * another process has just created is listed before every broker's metadata cache knows it: "This server does
 * not host this topic-partition"). Gives up after `timeoutMs` and rethrows the last error.
 */
export async function retryRetriable<T>(fn: () => Promise<T>, opts: { timeoutMs?: number; logger?: Logger; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const retriable = (err as { retriable?: boolean }).retriable === true;
      if (!retriable || Date.now() > deadline) throw err;
      opts.logger?.warn({ err: (err as Error).message, attempt, step: opts.what }, 'kafka not settled yet, retrying');
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** Math.min(attempt, 5))));
    }
  }
}

/** The specs of a service's topics from its config (`infraEnv.kafka` and the namespace): each under the
 * namespace, with the configured partitions and replication factor. */
export function topicSpecs(cfg: { namespace: string; kafkaTopicPartitions: number; kafkaReplicationFactor: number }, names: readonly string[]): TopicSpec[] {
  return names.map((t) => ({ topic: nsTopic(cfg.namespace, t), numPartitions: cfg.kafkaTopicPartitions, replicationFactor: cfg.kafkaReplicationFactor }));
}

export async function ensureTopics(kafka: Kafka, topics: TopicSpec[], opts: { dlq?: boolean } = {}): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted: TopicSpec[] = [];
    for (const t of topics) {
      wanted.push(t);
      if (opts.dlq !== false) wanted.push({ ...t, topic: dlqTopic(t.topic), numPartitions: 1 });
    }
    const missing = wanted.filter((t) => !existing.has(t.topic));
    if (missing.length) {
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.numPartitions ?? 12, replicationFactor: t.replicationFactor ?? 1 })),
        });
      } catch (err) {
        // Several services create shared topics at start (message, push, …): losing that race (topic already
        // exists, or its leaders not elected yet) is not a failure once every wanted topic exists.
        if (!(await topicsSettle(admin, wanted.map((t) => t.topic)))) throw err;
      }
    }
    return missing.map((t) => t.topic);
  } finally {
    await admin.disconnect();
  }
}

export interface EventRecord<S extends DescMessage> {
  key: string;
  message: MessageInitShape<S> | MessageShape<S>;
  headers?: Record<string, string>;
}

/** Idempotent producer (acks = all). Failures surface as ParleyError('unavailable'). */
export class EventProducer {
  private producer: Producer;
  private connected: Promise<void> | undefined;
  private readonly logger: Logger;

  constructor(
    kafka: Kafka,
    logger: Logger,
  ) {
    this.logger = logger.child({ subsystem: 'producer' });
    // kafkajs requires maxInFlightRequests 1 for an idempotent producer to keep order.
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    this.producer.on(this.producer.events.DISCONNECT, () => {
      this.connected = undefined;
    });
  }

  connect(): Promise<void> {
    this.connected ??= this.producer.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    return this.connected;
  }

  /**
   * Publishes protobuf-encoded events (acks = all) and resolves once the brokers have them. Either one event,
   * `send(topic, Schema, key, message, headers?)`, or a batch, `send(topic, Schema, [{key, message}])`.
   * A broker that is down surfaces as ParleyError('unavailable') after a reconnect attempt.
   */
  send<S extends DescMessage>(topic: string, schema: S, records: EventRecord<S>[]): Promise<void>;
  send<S extends DescMessage>(
    topic: string,
    schema: S,
    key: string,
    message: MessageInitShape<S> | MessageShape<S>,
    headers?: Record<string, string>,
  ): Promise<void>;
  async send<S extends DescMessage>(
    topic: string,
    schema: S,
    keyOrRecords: string | EventRecord<S>[],
    message?: MessageInitShape<S> | MessageShape<S>,
    headers?: Record<string, string>,
  ): Promise<void> {
    const records: EventRecord<S>[] =
      typeof keyOrRecords === 'string' ? [{ key: keyOrRecords, message: message as MessageInitShape<S>, ...(headers ? { headers } : {}) }] : keyOrRecords;
    await this.sendBatch(topic, schema, records);
  }

  /**
   * Group commit: kafkajs sends one request per send() call, and the idempotent producer keeps one request
   * in flight per broker, so concurrent sends would queue one round trip each. Instead every send issued
   * while a request is in flight joins the next request (one `sendBatch` over all their topics). The order
   * of enqueueing — so per-key order — is kept, and each caller resolves once its own records are acked.
   */
  private queued: Array<{ topic: string; messages: Message[]; resolve(): void; reject(err: unknown): void }> = [];
  private flushing = false;
  private static readonly MAX_RECORDS_PER_REQUEST = 2000;

  sendBatch<S extends DescMessage>(topic: string, schema: S, records: EventRecord<S>[]): Promise<void> {
    if (!records.length) return Promise.resolve();
    let messages: Message[];
    try {
      messages = records.map((r) => ({
        key: r.key,
        value: Buffer.from(toBinary(schema, create(schema, r.message as MessageInitShape<S>))),
        ...(r.headers ? { headers: r.headers } : {}),
      }));
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ topic, messages, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queued.length > 0) {
        let n = 0;
        let records = 0;
        while (n < this.queued.length && (n === 0 || records + this.queued[n]!.messages.length <= EventProducer.MAX_RECORDS_PER_REQUEST)) {
          records += this.queued[n]!.messages.length;
          n += 1;
        }
        const batch = this.queued.splice(0, n);
        const byTopic = new Map<string, Message[]>();
        for (const b of batch) {
          let l = byTopic.get(b.topic);
          if (!l) byTopic.set(b.topic, (l = []));
          l.push(...b.messages);
        }
        try {
          await this.produce([...byTopic].map(([topic, messages]) => ({ topic, messages })));
          for (const b of batch) b.resolve();
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async produce(topicMessages: Array<{ topic: string; messages: Message[] }>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.connect();
        const t0 = performance.now();
        await this.producer.sendBatch({ acks: -1, topicMessages });
        kitMetrics.produceSeconds.observe((performance.now() - t0) / 1000);
        kitMetrics.produceRecords.observe(topicMessages.reduce((n, t) => n + t.messages.length, 0));
        return;
      } catch (err) {
        this.logger.warn({ err: (err as Error).message, topics: topicMessages.map((t) => t.topic), attempt }, 'kafka send failed');
        // Drop the connection so the next attempt (or the next send, after an outage) reconnects from scratch.
        this.connected = undefined;
        await this.producer.disconnect().catch(() => {});
        if (attempt >= 2) throw new ParleyError('unavailable', 'event log unavailable, retry', { cause: err });
      }
    }
  }

  async sendOne<S extends DescMessage>(topic: string, schema: S, key: string, message: MessageInitShape<S> | MessageShape<S>): Promise<void> {
    await this.sendBatch(topic, schema, [{ key, message }]);
  }

  async disconnect(): Promise<void> {
    this.connected = undefined;
    await this.producer.disconnect();
  }
}

export interface EventMeta {
  topic: string;
  key: string;
  partition: number;
  offset: string;
  headers: IHeaders;
  timestamp: string;
}

export interface ConsumerHandle {
  consumer: Consumer;
  stop(): Promise<void>;
}

/** The options runConsumer and runPipelinedConsumer share. */
export interface ConsumerOptions<S extends DescMessage> {
  kafka: Kafka;
  groupId: string;
  topic: string;
  schema: S;
  /** A throw is retried (`unavailable` up to maxUnavailableAttempts, default 60; else maxAttempts, default 3), then dead-lettered. */
  handler: (event: MessageShape<S>, meta: EventMeta) => Promise<void>;
  logger: Logger;
  maxAttempts?: number;
  maxUnavailableAttempts?: number;
  fromBeginning?: boolean;
  partitionsConsumedConcurrently?: number;
}

/** What runConsumer and runPipelinedConsumer share: the group's consumer and its dead-letter producer, both
 * connected, subscribed to the topic (retried while the broker is not ready), crashes logged. */
export async function openGroupConsumer<S extends DescMessage>(opts: ConsumerOptions<S>) {
  const log = opts.logger.child({ subsystem: 'consumer', topic: opts.topic, group: opts.groupId });
  // maxWaitTimeInMs: how long an idle fetch long-polls. A stop waits for the fetch in flight, so kafkajs's 5 s
  // default made every graceful shutdown of a consumer take up to 5 s more (the images e2e caught a 5.2 s stop);
  // a fetch still returns as soon as a record arrives, so delivery latency does not change.
  const consumer = opts.kafka.consumer({ groupId: opts.groupId, sessionTimeout: 15000, heartbeatInterval: 3000, maxWaitTimeInMs: CONSUMER_MAX_WAIT_MS, retry: { retries: 10 } });
  const dlqProducer = opts.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await consumer.connect();
  await dlqProducer.connect();
  await retryRetriable(() => consumer.subscribe({ topic: opts.topic, fromBeginning: opts.fromBeginning ?? true }), { logger: log, what: 'subscribe' });
  consumer.on(consumer.events.CRASH, (e) => {
    log.error({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed');
  });
  return { log, consumer, dlqProducer };
}

/** Sends an event to `<topic>.dlq` with the error, its source and the attempts in headers (0 attempts: undecodable). */
function deadLetterer(dlqProducer: Producer, opts: { topic: string; groupId: string }, log: Logger) {
  return async (msg: { key: Buffer | null; value: Buffer | null; headers?: IHeaders }, meta: EventMeta, err: unknown, attempts: number): Promise<void> => {
    log.error({ err, partition: meta.partition, offset: meta.offset, attempts }, 'event dead-lettered');
    kitMetrics.deadLettered.inc({ topic: opts.topic, group: opts.groupId, reason: attempts === 0 ? 'undecodable' : 'failed' });
    await dlqProducer.send({
      topic: dlqTopic(opts.topic),
      acks: -1,
      messages: [
        {
          key: msg.key,
          value: msg.value,
          headers: {
            ...(msg.headers ?? {}),
            'x-error': (err instanceof Error ? err.message : String(err)).slice(0, 1000),
            'x-source-topic': opts.topic,
            'x-source-partition': String(meta.partition),
            'x-source-offset': meta.offset,
            'x-consumer-group': opts.groupId,
            'x-attempts': String(attempts),
          },
        },
      ],
    });
  };
}

/** A record's value decoded with the consumer's schema, or why it could not be. */
export type Decoded<S extends DescMessage> = { event: MessageShape<S> } | { error: unknown };

export function decodeEvent<S extends DescMessage>(schema: S, message: KafkaMessage): Decoded<S> {
  try {
    return { event: fromBinary(schema, message.value ?? new Uint8Array()) };
  } catch (error) {
    return { error };
  }
}

/**
 * Handles one event until it succeeded or was dead-lettered: decodes it (undecodable: dead-lettered at once),
 * runs the handler, and retries a failure with backoff (`unavailable` up to maxUnavailable attempts, anything
 * else up to maxAttempts) before dead-lettering it. Throws only when stopping (not committed: redelivered to
 * whoever owns the partition next). `beforeRetry` runs before each backoff, `afterBackoff` after it.
 */
export function eventHandler<S extends DescMessage>(
  opts: ConsumerOptions<S>,
  group: { log: Logger; dlqProducer: Producer; stopping: () => boolean },
) {
  const { log, stopping } = group;
  const deadLetter = deadLetterer(group.dlqProducer, opts, log);
  const maxAttempts = opts.maxAttempts ?? 3;
  const maxUnavailable = opts.maxUnavailableAttempts ?? 60;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  return async (
    topic: string,
    partition: number,
    message: KafkaMessage,
    hooks: { beforeRetry?: () => Promise<void>; afterBackoff?: () => Promise<void> } = {},
    /** The value already decoded by the caller (runConsumer's lanes), or the error decoding it gave. */
    decoded?: Decoded<S>,
  ): Promise<void> => {
    const meta: EventMeta = {
      topic,
      partition,
      offset: message.offset,
      key: message.key?.toString() ?? '',
      headers: message.headers ?? {},
      timestamp: message.timestamp,
    };
    const d = decoded ?? decodeEvent(opts.schema, message);
    if ('error' in d) {
      await deadLetter(message, meta, d.error, 0);
      return;
    }
    const event = d.event;
    for (let attempt = 1; ; attempt++) {
      try {
        await opts.handler(event, meta);
        return;
      } catch (err) {
        if (stopping()) throw err; // not committed: redelivered to whoever owns the partition next
        const transient = asParleyError(err).code === 'unavailable';
        const limit = transient ? maxUnavailable : maxAttempts;
        if (attempt >= limit) {
          await deadLetter(message, meta, err, attempt);
          return;
        }
        log.warn({ err: (err as Error).message, attempt, partition, offset: message.offset }, 'handler failed, retrying');
        await hooks.beforeRetry?.().catch(() => {});
        await sleep(Math.min(100 * 2 ** Math.min(attempt, 5), 2000));
        if (stopping()) throw err;
        await hooks.afterBackoff?.().catch(() => {});
      }
    }
  };
}

/**
 * Runs a consumer group. Within a partition, events with the same key are handled one at a time in offset
 * order; events with different keys may be handled concurrently (`keyConcurrency`, default 1 = strictly one
 * at a time). An offset is committed only after the handlers of it and of every event before it in its
 * partition succeeded (commit after effect). Commits are eager but coalesced: as soon as the handled prefix
 * grows a commit is sent, and whatever completes while it is in flight goes in the next one — so after a
 * crash, only events whose commit was in flight are redelivered, and a busy partition still makes one
 * commit request at a time. An event that cannot be decoded, or whose handler keeps failing, goes to
 * `<topic>.dlq` with the error in headers and is then committed. `unavailable` errors are retried longer
 * (a dependency restarting) before dead-lettering.
 */
export async function runConsumer<S extends DescMessage>(opts: ConsumerOptions<S> & {
  /** How many distinct keys of one partition's batch are handled at once (same key: always in order). */
  keyConcurrency?: number;
  /**
   * The ordering key of an event, when it is finer than the Kafka message key (default: the message key):
   * events with the same lane are handled in offset order, different lanes concurrently. Only for handlers
   * whose effects commute across lanes. It gets the decoded event (undefined if the value does not decode:
   * the handler's step dead-letters it); each record is decoded once, for both.
   */
  laneOf?: (key: Buffer | null, event: MessageShape<S> | undefined) => string;
  /**
   * Handled offsets of all partitions are committed together at most this often (ms; default 50, 0 = after
   * every event). A crash redelivers at most this much of handled events (at-least-once either way); a stop,
   * a retry and a failure commit what was handled first.
   */
  commitIntervalMs?: number;
}): Promise<ConsumerHandle> {
  const { log, consumer, dlqProducer } = await openGroupConsumer(opts);
  let stopping = false;
  const committer = new OffsetCommitter(consumer, opts.commitIntervalMs ?? 50, log);
  let activeBatches = 0;
  const keyConcurrency = Math.max(1, opts.keyConcurrency ?? 1);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const handleOne = eventHandler(opts, { log, dlqProducer, stopping: () => stopping });

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 4,
    eachBatch: async ({ batch, heartbeat, resolveOffset }) => {
      const { topic, partition, messages } = batch;
      if (messages.length === 0 || stopping) return; // not resolved: the next owner gets them
      activeBatches += 1;
      try {
        await handleBatch(topic, partition, messages, heartbeat, resolveOffset);
      } finally {
        activeBatches -= 1;
      }
    },
  });
  async function handleBatch(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    heartbeat: () => Promise<void>,
    resolveOffset: (offset: string) => void,
  ): Promise<void> {
    // Commit bookkeeping: the contiguous prefix of handled events, marked for the committer as it grows.
    const done = new Array<boolean>(messages.length).fill(false);
    let prefix = 0; // messages[0..prefix) are handled
    let committed = -1; // index of the last message marked for commit
    const commitPrefix = () => {
      while (prefix < messages.length && done[prefix]) prefix += 1;
      if (prefix - 1 <= committed) return;
      const idx = prefix - 1;
      resolveOffset(messages[idx]!.offset); // the fetch position: the next batch starts after it
      committer.mark(topic, partition, (BigInt(messages[idx]!.offset) + 1n).toString());
      committed = idx;
    };
    const commitNow = async () => {
      commitPrefix();
      await committer.flush();
    };
    // Same key → one lane, in offset order; lanes run `keyConcurrency` at a time.
    const lanes = new Map<string, number[]>();
    const decoded = opts.laneOf ? messages.map((m) => decodeEvent(opts.schema, m)) : undefined;
    messages.forEach((m, i) => {
      const d = decoded?.[i];
      const k = keyConcurrency === 1 ? '' : opts.laneOf ? opts.laneOf(m.key, d && 'event' in d ? d.event : undefined) : (m.key?.toString() ?? '');
      let l = lanes.get(k);
      if (!l) lanes.set(k, (l = []));
      l.push(i);
    });
    const queue = [...lanes.values()];
    let failure: unknown;
    const worker = async () => {
      for (let lane = queue.shift(); lane; lane = queue.shift()) {
        for (const i of lane) {
          if (failure !== undefined) return;
          try {
            await handleOne(topic, partition, messages[i]!, { beforeRetry: commitNow, afterBackoff: heartbeat }, decoded?.[i]);
          } catch (err) {
            failure = err;
            return;
          }
          done[i] = true;
          commitPrefix();
          await heartbeat().catch(() => {}); // sends only when heartbeatInterval has passed
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(keyConcurrency, queue.length) }, worker));
    // Whatever succeeded is committed (not redone by the next owner); while an event is being retried, the
    // prefix before it was committed already (beforeRetry), so a stop in the middle loses no progress.
    if (failure !== undefined) {
      await commitNow().catch(() => {});
      throw failure;
    }
    commitPrefix();
  }
  let stopped: Promise<void> | undefined;
  return {
    consumer,
    /** Leaves the group after the in-flight event (uncommitted events go to the next owner). Idempotent. */
    stop() {
      stopping = true;
      stopped ??= (async () => {
        // The batch in flight finishes (a retrying handler gives up at once), then what was handled is committed.
        for (let i = 0; activeBatches > 0 && i < 3000; i++) await sleep(10);
        await committer.flush();
        await consumer.disconnect();
        await dlqProducer.disconnect();
      })();
      return stopped;
    },
  };
}

/**
 * Handled offsets waiting for their commit: one OffsetCommit request for every partition marked since the
 * last one, at most every `intervalMs` (0: at once), one request in flight at a time. Offsets only grow per
 * partition (each mark is the end of a longer handled prefix), and a failed commit is retried by the next.
 */
class OffsetCommitter {
  private pending = new Map<string, { topic: string; partition: number; offset: string }>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly consumer: Consumer,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  mark(topic: string, partition: number, offset: string): void {
    this.pending.set(`${topic}\u0000${partition}`, { topic, partition, offset });
    if (this.intervalMs === 0) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.intervalMs);
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return this.chain;
    const list = [...this.pending.values()];
    this.pending.clear();
    this.chain = this.chain.then(() =>
      this.consumer.commitOffsets(list).catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'offset commit failed');
        // Put them back unless a later mark moved the partition on: the next flush retries them.
        for (const o of list) if (!this.pending.has(`${o.topic}\u0000${o.partition}`)) this.pending.set(`${o.topic}\u0000${o.partition}`, o);
      }),
    );
    return this.chain;
  }
}

/**
 * A cheap probe for readiness: one admin client (reused), `describeCluster`, few retries so an outage shows
 * within one readiness period; concurrent calls share the one in flight. After an error the admin is dropped
 * and the next call reconnects, so readiness recovers by itself when the brokers return.
 */
export function kafkaCheck(kafka: Kafka): (() => Promise<void>) & { close(): Promise<void> } {
  let admin: Admin | undefined;
  let inflight: Promise<void> | undefined;
  const probe = async () => {
    try {
      if (!admin) {
        admin = kafka.admin({ retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 500 } });
        await admin.connect();
      }
      await admin.describeCluster();
    } catch (err) {
      const a = admin;
      admin = undefined;
      await a?.disconnect().catch(() => {});
      throw err;
    }
  };
  const check = () =>
    (inflight ??= probe().finally(() => {
      inflight = undefined;
    }));
  return Object.assign(check, {
    /** Disconnects the admin client (services may skip it: process exit does the same). */
    async close() {
      await inflight?.catch(() => {});
      const a = admin;
      admin = undefined;
      await a?.disconnect().catch(() => {});
    },
  });
}

export interface ReplayResult {
  /** Events republished to their source topic. */
  replayed: number;
  /** The DLQ's end offsets when the replay started (what it read up to), by partition. */
  upTo: Record<number, string>;
}

/**
 * Republishes what `<topic>.dlq` holds to `topic` (key, value and the original headers; the x-* error
 * headers are dropped and `x-replayed-from` records the DLQ offset), from the replay group's committed
 * position up to the DLQ's end when the replay started, committing as it goes: a second replay only sees
 * what was dead-lettered since. Consumers dedupe as usual (the fan-out by chat and seq). An event that fails
 * again is dead-lettered again, with its attempts counted anew. `max` bounds one run.
 */
export async function replayDeadLetters(opts: {
  kafka: Kafka;
  topic: string;
  logger: Logger;
  groupId?: string;
  max?: number;
  timeoutMs?: number;
}): Promise<ReplayResult> {
  const log = opts.logger.child({ subsystem: 'dlq-replay', topic: opts.topic });
  const dlq = dlqTopic(opts.topic);
  const groupId = opts.groupId ?? 'parley-dlq-replay';
  const admin = opts.kafka.admin();
  await admin.connect();
  let ends: { partition: number; offset: string }[];
  let committed: { partition: number; offset: string }[];
  try {
    ends = (await admin.fetchTopicOffsets(dlq)).map((o) => ({ partition: o.partition, offset: o.high }));
    const c = await admin.fetchOffsets({ groupId, topics: [dlq] });
    committed = (c[0]?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset }));
  } finally {
    await admin.disconnect();
  }
  const upTo = Object.fromEntries(ends.map((e) => [e.partition, e.offset]));
  const start = (p: number) => {
    const o = committed.find((c) => c.partition === p)?.offset ?? '-1';
    return BigInt(o) < 0n ? 0n : BigInt(o);
  };
  const pending = ends.filter((e) => start(e.partition) < BigInt(e.offset));
  if (pending.length === 0) {
    log.info('nothing to replay');
    return { replayed: 0, upTo };
  }
  const producer = opts.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = opts.kafka.consumer({ groupId, sessionTimeout: 15000, heartbeatInterval: 3000 });
  await producer.connect();
  await consumer.connect();
  let replayed = 0;
  const max = opts.max ?? Number.POSITIVE_INFINITY;
  const left = new Set(pending.map((e) => e.partition));
  try {
    await retryRetriable(() => consumer.subscribe({ topic: dlq, fromBeginning: true }), { what: 'subscribe' });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replay of ${dlq} did not finish within ${opts.timeoutMs ?? 120_000} ms`)), opts.timeoutMs ?? 120_000);
      const finish = () => {
        clearTimeout(timer);
        resolve();
      };
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const end = BigInt(upTo[partition] ?? '0');
            if (!left.has(partition) || BigInt(message.offset) >= end || replayed >= max) {
              left.delete(partition);
              if (left.size === 0 || replayed >= max) finish();
              return;
            }
            const headers: IHeaders = {};
            for (const [k, v] of Object.entries(message.headers ?? {})) if (!k.startsWith('x-') && v !== undefined) headers[k] = v;
            const source = message.headers?.['x-source-topic']?.toString() || opts.topic;
            headers['x-replayed-from'] = `${dlq}:${partition}:${message.offset}`;
            await producer.send({ topic: source, acks: -1, messages: [{ key: message.key, value: message.value, headers }] });
            await consumer.commitOffsets([{ topic: dlq, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
            replayed += 1;
            kitMetrics.replayed.inc({ topic: opts.topic });
            if (BigInt(message.offset) + 1n >= end) left.delete(partition);
            if (left.size === 0 || replayed >= max) finish();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
  }
  log.info({ replayed }, 'dead letters replayed');
  return { replayed, upTo };
}
