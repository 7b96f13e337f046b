// The message service's Prometheus metrics, made once by wiring.ts.
import type { Metrics } from '@parley/kit';

export interface MessageMetrics {
  sends: ReturnType<Metrics['counter']>;
  sendSeconds: ReturnType<Metrics['histogram']>;
  commitBatch: ReturnType<Metrics['histogram']>;
  commitConflicts: ReturnType<Metrics['counter']>;
  combinedWriters: ReturnType<Metrics['histogram']>;
  acks: ReturnType<Metrics['counter']>;
  backlogMessages: ReturnType<Metrics['counter']>;
  fanoutMessages: ReturnType<Metrics['counter']>;
  fanoutTargets: ReturnType<Metrics['counter']>;
  fanoutSeconds: ReturnType<Metrics['histogram']>;
  routeUsers: ReturnType<Metrics['counter']>;
  republished: ReturnType<Metrics['counter']>;
  stageSeconds: ReturnType<Metrics['histogram']>;
}

export function messageMetrics(m: Metrics): MessageMetrics {
  return {
    sends: m.counter('parley_message_sends_total', 'SendMessage calls by result', ['result']),
    sendSeconds: m.histogram('parley_message_send_seconds', 'SendMessage latency'),
    commitBatch: m.histogram('parley_message_commit_batch_size', 'messages per conditional commit', [], [1, 2, 4, 8, 16, 32, 64]),
    combinedWriters: m.histogram('parley_message_cassandra_writers_per_request', 'writers (commits of different chats, cursor writes of different devices) sharing one group-committed write', ['store'], [1, 2, 4, 8, 16, 32, 64, 128]),
    commitConflicts: m.counter('parley_message_commit_conflicts_total', 'commit rounds lost to another writer'),
    acks: m.counter('parley_message_acks_total', 'acked items received'),
    backlogMessages: m.counter('parley_message_backlog_messages_total', 'messages streamed from backlogs'),
    fanoutMessages: m.counter('parley_message_fanout_messages_total', 'messages routed by the fan-out worker'),
    fanoutTargets: m.counter('parley_message_fanout_targets_total', 'device targets by path', ['path']),
    fanoutSeconds: m.histogram('parley_message_fanout_seconds', 'fan-out time per message'),
    republished: m.counter('parley_message_republished_total', 'stored messages whose publish had failed: published later in the background, or dropped (too many held)', ['result']),
    routeUsers: m.counter('parley_message_route_users_total', 'recipients whose device routes were looked up, by source: registry (read from Redis) or session (device set not cached)', ['source']),
    stageSeconds: m.histogram('parley_message_send_stage_seconds', 'time per step of a send: queued (arrival to committable), write (log batch), post (publish before the answer)', ['stage'], [
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ]),
  };
}
