// Entry point: the only file that reads process.env; signals and exit codes are the kit's (runMain).
//   node dist/main.js            run the service
//   node dist/main.js migrate    apply the Cassandra migrations and exit
//   node dist/main.js topics     create the Kafka topics (+ .dlq) and exit
//   node dist/main.js dlq-replay <topic> [max]
//                                republish what <topic>.dlq holds to <topic> (operations.md, runbook) and exit
import { fileURLToPath } from 'node:url';
import { createKafka, createLogger, nsTopic, replayDeadLetters, runMain } from '@parley/kit';
import { envSpec } from './config.js';
import { createTopics, migrate, MessageService } from './wiring.js';

const cfg = envSpec.parse(process.env);
const logger = createLogger('message', cfg.logLevel);
const migrationsDir = fileURLToPath(new URL('../migrations', import.meta.url));

await runMain({
  name: 'message',
  logger,
  create: () => MessageService.create(cfg, { logger, migrationsDir }),
  commands: {
    migrate: async () => {
      const applied = await migrate(cfg, logger, migrationsDir);
      logger.info({ applied }, 'migrations done');
    },
    topics: async () => {
      const created = await createTopics(cfg, createKafka({ brokers: cfg.kafkaBrokers, clientId: 'message-topics', logger }));
      logger.info({ created }, 'topics done');
    },
    'dlq-replay': async ([topic, maxArg]) => {
      const max = maxArg !== undefined ? Number(maxArg) : undefined;
      if (!topic || (max !== undefined && !(Number.isInteger(max) && max > 0))) {
        logger.fatal('usage: dlq-replay <topic, e.g. chat.messages.v1> [max events]');
        return 2;
      }
      const kafka = createKafka({ brokers: cfg.kafkaBrokers, clientId: 'message-dlq-replay', logger });
      const res = await replayDeadLetters({ kafka, topic: nsTopic(cfg.namespace, topic), logger, ...(max !== undefined ? { max } : {}) });
      logger.info(res, 'dlq replay done');
    },
  },
});
