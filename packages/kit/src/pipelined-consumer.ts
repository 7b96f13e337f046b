// A consumer whose handlers may take long (seconds to minutes: a collapse window, a provider's Retry-After)
// without stalling their partition. Unlike `runConsumer`, which finishes a fetched batch before fetching the
// next, this one starts every event's handler and keeps fetching, up to `maxInFlight` unfinished events per
// process (then it waits). Offsets are still committed only after the effect: the committed offset of a
// partition is always the first event whose handler has not finished, so a crash redelivers exactly the
// unfinished events (and some finished after the first unfinished one: at-least-once).
import type { Consumer, KafkaMessage } from 'kafkajs';
import type { DescMessage } from '@bufbuild/protobuf';
import { eventHandler, openGroupConsumer, type ConsumerOptions } from './kafka.js';

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

/** The handler should settle the event itself (its own retries); a throw is retried like runConsumer's, then dead-lettered. */
export async function runPipelinedConsumer<S extends DescMessage>(opts: ConsumerOptions<S> & { maxInFlight?: number }): Promise<PipelinedConsumerHandle> {
  const { log, consumer, dlqProducer } = await openGroupConsumer(opts);
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 1000);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let stopping = false;
  let inFlight = 0;
  let wake: (() => void) | undefined;
  // A new generation (rebalance) starts new partition states: handlers of the old one still commit into theirs,
  // which only ever commits offsets whose events (and all before them) were handled here.
  let states = new Map<number, PartitionState>();
  consumer.on(consumer.events.GROUP_JOIN, () => {
    states = new Map();
  });
  const handleEvent = eventHandler(opts, { log, dlqProducer, stopping: () => stopping });
  const handleOne = (partition: number, message: KafkaMessage) => handleEvent(opts.topic, partition, message);

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
