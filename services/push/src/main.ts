// Wiring only: read env, build, run until SIGTERM. `node dist/main.js migrate` applies migrations and exits.
import { fileURLToPath } from 'node:url';
import { createLogger, runService } from '@parley/kit';
import { envSpec } from './config.js';
import { PushService } from './wiring.js';

const cfg = envSpec.parse(process.env);
const logger = createLogger('push', cfg.logLevel);
const migrationsDir = fileURLToPath(new URL('../migrations', import.meta.url));

if (process.argv[2] === 'migrate') {
  PushService.migrate(cfg, migrationsDir, logger).then(
    () => process.exit(0),
    (err: unknown) => {
      logger.fatal({ err }, 'migration failed');
      process.exit(1);
    },
  );
} else {
  void runService({ name: 'push', logger, create: () => PushService.create(cfg, { migrationsDir, logger }) });
}
