// Entry point: the only file that reads process.env or handles signals.
//   node dist/main.js            run the service
//   node dist/main.js migrate    apply the Cassandra migrations and exit
//   node dist/main.js topics     create the Kafka topics (+ .dlq) and exit
//   node dist/main.js dlq-replay <topic> [max]
//                                republish what <topic>.dlq holds to <topic> (operations.md, runbook) and exit
import { fileURLToPath } from 'node:url';
import { createKafka, createLogger, nsTopic, replayDeadLetters, runService } from '@parley/kit';
import { envSpec } from './config.js';
import { createTopics, migrate, MessageService } from './wiring.js';

const cfg = envSpec.parse(process.env);
const logger = createLogger('message', cfg.logLevel);
const migrationsDir = fileURLToPath(new URL('../migrations', import.meta.url));
const cmd = process.argv[2];

if (cmd === 'migrate') {
  const applied = await migrate(cfg, logger, migrationsDir);
  logger.info({ applied }, 'migrations done');
  process.exit(0);
} else if (cmd === 'topics') {
  const created = await createTopics(cfg, createKafka({ brokers: cfg.kafkaBrokers, clientId: 'message-topics', logger }));
  logger.info({ created }, 'topics done');
  process.exit(0);
} else if (cmd === 'dlq-replay') {
  const topic = process.argv[3];
  const max = process.argv[4] !== undefined ? Number(process.argv[4]) : undefined;
  if (!topic || (max !== undefined && !(Number.isInteger(max) && max > 0))) {
    logger.fatal('usage: dlq-replay <topic, e.g. chat.messages.v1> [max events]');
    process.exit(2);
  }
  const kafka = createKafka({ brokers: cfg.kafkaBrokers, clientId: 'message-dlq-replay', logger });
  const res = await replayDeadLetters({ kafka, topic: nsTopic(cfg.namespace, topic), logger, ...(max !== undefined ? { max } : {}) });
  logger.info(res, 'dlq replay done');
  process.exit(0);
} else {
  await runService({ name: 'message', logger, create: () => MessageService.create(cfg, { logger, migrationsDir }) });
}
