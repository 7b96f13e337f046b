// Entry point: the only file that reads process.env or handles signals.
//   node dist/main.js            run the service
//   node dist/main.js migrate    apply the Cassandra migrations and exit
//   node dist/main.js topics     create the Kafka topics (+ .dlq) and exit
import { fileURLToPath } from 'node:url';
import { createKafka, createLogger, runService } from '@parley/kit';
import { envSpec } from './config.js';
import { createTopics, migrate, MessageService } from './service.js';

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
} else {
  await runService({ name: 'message', logger, create: () => MessageService.create(cfg, { logger, migrationsDir }) });
}
