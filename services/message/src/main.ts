// Entry point: the only file that reads process.env; config, logger, signals and exit codes are the kit's (serviceMain).
//   node dist/main.js            run the service
//   node dist/main.js migrate    apply the Cassandra migrations and exit
//   node dist/main.js topics     create the Kafka topics (+ .dlq) and exit
//   node dist/main.js dlq-replay <topic> [max]
//                                republish what <topic>.dlq holds to <topic> (operations.md, runbook) and exit
import { nsTopic, openKafka, replayDeadLetters, serviceMain } from '@parley/kit';
import { envSpec } from './config.js';
import { createTopics, MessageService } from './wiring.js';

await serviceMain({
  name: 'message',
  config: envSpec,
  service: MessageService,
  migrations: new URL('../migrations', import.meta.url),
  commands: (cfg, logger) => ({
    topics: async () => {
      const created = await createTopics(cfg, openKafka(cfg, 'message-topics', logger));
      logger.info({ created }, 'topics done');
    },
    'dlq-replay': async ([topic, maxArg]) => {
      const max = maxArg !== undefined ? Number(maxArg) : undefined;
      if (!topic || (max !== undefined && !(Number.isInteger(max) && max > 0))) {
        logger.fatal('usage: dlq-replay <topic, e.g. chat.messages.v1> [max events]');
        return 2;
      }
      const kafka = openKafka(cfg, 'message-dlq-replay', logger);
      const res = await replayDeadLetters({ kafka, topic: nsTopic(cfg.namespace, topic), logger, ...(max !== undefined ? { max } : {}) });
      logger.info(res, 'dlq replay done');
    },
  }),
});
