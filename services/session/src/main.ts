// Entry point: the only file that reads process.env; signals and exit codes are the kit's (runMain).
//   node dist/main.js            run the service until SIGTERM
//   node dist/main.js migrate    apply the Cassandra migrations and exit
import { fileURLToPath } from 'node:url';
import { createLogger, runMain } from '@parley/kit';
import { envSpec } from './config.js';
import { SessionService } from './wiring.js';

const cfg = envSpec.parse(process.env);
const logger = createLogger('session', cfg.logLevel);
const migrationsDir = fileURLToPath(new URL('../migrations', import.meta.url));

await runMain({
  name: 'session',
  logger,
  create: () => SessionService.create(cfg, { migrationsDir, logger }),
  commands: { migrate: () => SessionService.migrate(cfg, migrationsDir, logger) },
});
