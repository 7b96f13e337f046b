// Wiring only: read env, build, run until SIGTERM.
import { createLogger, runService } from '@parley/kit';
import { envSpec } from './config.js';
import { PresenceService } from './service.js';

const cfg = envSpec.parse(process.env);
const logger = createLogger('presence', cfg.logLevel);
void runService({ name: 'presence', logger, create: () => PresenceService.create(cfg, { logger }) });
