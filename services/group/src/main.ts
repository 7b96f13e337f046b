// Entry point: the only file that reads process.env or handles signals.
//   node dist/main.js            run the service
//   node dist/main.js migrate    apply the Cassandra migrations and exit
import { fileURLToPath } from 'node:url';
import { createLogger, runService } from '@parley/kit';
import { envSpec } from './config.js';
import { GroupService, migrate } from './wiring.js';

const cfg = envSpec.parse(process.env);
const logger = createLogger('group', cfg.logLevel);
const migrationsDir = fileURLToPath(new URL('../migrations', import.meta.url));

if (process.argv[2] === 'migrate') {
  migrate(cfg, logger, migrationsDir).then(
    (applied) => {
      logger.info({ applied }, 'migrations done');
      process.exit(0);
    },
    (err: unknown) => {
      logger.fatal({ err }, 'migration failed');
      process.exit(1);
    },
  );
} else {
  void runService({ name: 'group', logger, create: () => GroupService.create(cfg, { migrationsDir, logger }) });
}
