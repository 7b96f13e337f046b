// Entry point: the only file that reads process.env; config, logger, signals and exit codes are the kit's (serviceMain).
//   node dist/main.js            run the service until SIGTERM
//   node dist/main.js migrate    apply the Cassandra migrations and exit
import { serviceMain } from '@parley/kit';
import { envSpec } from './config.js';
import { PushService } from './wiring.js';

await serviceMain({ name: 'push', config: envSpec, service: PushService, migrations: new URL('../migrations', import.meta.url) });
