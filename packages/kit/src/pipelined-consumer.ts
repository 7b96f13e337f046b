// A consumer whose handlers may take long (seconds to minutes: a collapse window, a provider's Retry-After)
// without stalling their partition. Unlike `runConsumer`, which finishes a fetched batch before fetching the
// next, this one starts every event's handler and keeps fetching, up to `maxInFlight` unfinished events per
// process (then it waits). Offsets are still committed only after the effect: the committed offset of a
// partition is always the first event whose handler has not finished, so a crash redelivers exactly the
// unfinished events (and some finished after the first unfinished one: at-least-once).
import type { Consumer, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { fromBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { asParleyError } from './errors.js';
import { dlqTopic, retryRetriable, type EventMeta } from './kafka.js';
import { kitMetrics } from './metrics.js';

export interface PipelinedConsumerHandle {
  consumer: Consumer;
  /** Unfinished events right now (all partitions). */
  inFlight(): number;
  /** Leaves the group; unfinished events are not committed and go to the next owner. Idempotent. */
  stop(): Promise<void>;
}

interface PartitionState {
  /** offset → finished; kept in fetch (offset) order. */
  pending: Map<bigint, boolean>;
  committing?: Promise<void>;
  again: boolean;
}

export async function runPipelinedConsumer<S extends DescMessage>(opts: {
  kafka: Kafka;
  groupId: string;
  topic: string;
  schema: S;
  /** Should settle the event itself (its own retries); a throw is retried like runConsumer's, then dead-lettered. */
  handler: (event: MessageShape<S>, meta: EventMeta) => Promise<void>;
  logger: Logger;
  maxInFlight?: number;
  maxAttempts?: number;
  maxUnavailableAttempts?: number;
  fromBeginning?: boolean;
  partitionsConsumedConcurrently?: number;
}): Promise<PipelinedConsumerHandle> {
  const log = opts.logger.child({ subsystem: 'consumer', topic: opts.topic, group: opts.groupId });
  const consumer = opts.kafka.consumer({ groupId: opts.groupId, sessionTimeout: 15000, heartbeatInterval: 3000, retry: { retries: 10 } });
  const dlqProducer = opts.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 1000);
  const maxAttempts = opts.maxAttempts ?? 3;
  const maxUnavailable = opts.maxUnavailableAttempts ?? 60;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let stopping = false;
  let inFlight = 0;
  let wake: (() => void) | undefined;
  // A new generation (rebalance) starts new partition states: handlers of the old one still commit into theirs,
  // which only ever commits offsets whose events (and all before them) were handled here.
  let states = new Map<number, PartitionState>();

  await consumer.connect();
  await dlqProducer.connect();
  await retryRetriable(() => consumer.subscribe({ topic: opts.topic, fromBeginning: opts.fromBeginning ?? true }), { logger: log, what: 'subscribe' });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    states = new Map();
  });
  consumer.on(consumer.events.CRASH, (e) => log.error({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed'));

  const deadLetter = async (msg: KafkaMessage, meta: EventMeta, err: unknown, attempts: number) => {
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
            ...((msg.headers ?? {}) as IHeaders),
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

  const commit = (partition: number, st: PartitionState) => {
    if (st.committing) {
      st.again = true;
      return;
    }
    st.committing = (async () => {
      do {
        st.again = false;
        let last: bigint | undefined;
        for (const [off, done] of st.pending) {
          if (!done) break;
          last = off;
        }
        if (last === undefined) continue;
        for (const off of [...st.pending.keys()]) {
          if (off > last) break;
          st.pending.delete(off);
        }
        try {
          await consumer.commitOffsets([{ topic: opts.topic, partition, offset: (last + 1n).toString() }]);
        } catch (err) {
          if (!stopping) log.warn({ err: (err as Error).message, partition }, 'offset commit failed');
        }
      } while (st.again);
    })().finally(() => {
      st.committing = undefined;
    });
  };

  const handleOne = async (partition: number, message: KafkaMessage): Promise<void> => {
    const meta: EventMeta = {
      topic: opts.topic,
      partition,
      offset: message.offset,
      key: message.key?.toString() ?? '',
      headers: message.headers ?? {},
      timestamp: message.timestamp,
    };
    let event: MessageShape<S>;
    try {
      event = fromBinary(opts.schema, message.value ?? new Uint8Array());
    } catch (err) {
      await deadLetter(message, meta, err, 0);
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await opts.handler(event, meta);
        return;
      } catch (err) {
        if (stopping) throw err;
        const transient = asParleyError(err).code === 'unavailable';
        if (attempt >= (transient ? maxUnavailable : maxAttempts)) {
          await deadLetter(message, meta, err, attempt);
          return;
        }
        log.warn({ err: (err as Error).message, attempt, partition, offset: message.offset }, 'handler failed, retrying');
        await sleep(Math.min(100 * 2 ** Math.min(attempt, 5), 2000));
        if (stopping) throw err;
      }
    }
  };

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 4,
    eachBatch: async ({ batch, heartbeat, resolveOffset, isRunning, isStale }) => {
      const { partition } = batch;
      let st = states.get(partition);
      if (!st) states.set(partition, (st = { pending: new Map(), again: false }));
      const state = st;
      for (const message of batch.messages) {
        if (!isRunning() || isStale() || stopping) return;
        while (inFlight >= maxInFlight && !stopping) {
          await Promise.race([new Promise<void>((r) => (wake = r)), sleep(1000)]);
          await heartbeat().catch(() => {});
        }
        const off = BigInt(message.offset);
        if (state.pending.has(off)) continue; // re-fetched while still in flight here
        state.pending.set(off, false);
        inFlight += 1;
        void handleOne(partition, message).then(
          () => {
            inFlight -= 1;
            wake?.();
            state.pending.set(off, true);
            commit(partition, state);
          },
          (err: unknown) => {
            inFlight -= 1;
            wake?.();
            log.debug({ err: (err as Error).message, partition, offset: message.offset }, 'event left uncommitted (stopping)');
          },
        );
        resolveOffset(message.offset);
      }
      await heartbeat().catch(() => {});
    },
  });

  let stopped: Promise<void> | undefined;
  return {
    consumer,
    inFlight: () => inFlight,
    stop() {
      stopping = true;
      wake?.();
      stopped ??= (async () => {
        await consumer.disconnect();
        await dlqProducer.disconnect();
      })();
      return stopped;
    },
  };
}
