// Wiring only: read env, build, run until SIGTERM. `node dist/main.js migrate` applies migrations and exits.
import { fileURLToPath } from 'node:url';
import { createLogger, runService } from '@parley/kit';
import { envSpec } from './config.js';
import { PresenceService } from './wiring.js';

const cfg = envSpec.parse(process.env);
const logger = createLogger('presence', cfg.logLevel);
const migrationsDir = fileURLToPath(new URL('../migrations', import.meta.url));

if (process.argv[2] === 'migrate') {
  PresenceService.migrate(cfg, migrationsDir, logger).then(
    () => process.exit(0),
    (err: unknown) => {
      logger.fatal({ err }, 'migration failed');
      process.exit(1);
    },
  );
} else {
  void runService({ name: 'presence', logger, create: () => PresenceService.create(cfg, { migrationsDir, logger }) });
}
