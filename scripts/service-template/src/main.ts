// Entry point: the only file that reads process.env; signals and exit codes are the kit's (runMain).
//   node dist/main.js            run the service until SIGTERM
import { createLogger, runMain } from '@parley/kit';
import { envSpec } from './config.js';
import { TmplsvcService } from './wiring.js';

const cfg = envSpec.parse(process.env);
const logger = createLogger('tmplsvc', cfg.logLevel);

await runMain({ name: 'tmplsvc', logger, create: () => TmplsvcService.create(cfg, { logger }) });
