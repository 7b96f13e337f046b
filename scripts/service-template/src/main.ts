// Entry point: the only file that reads process.env; config, logger, signals and exit codes are the kit's (serviceMain).
//   node dist/main.js            run the service until SIGTERM
import { serviceMain } from '@parley/kit';
import { envSpec } from './config.js';
import { TmplsvcService } from './wiring.js';

await serviceMain({ name: 'tmplsvc', config: envSpec, service: TmplsvcService });
