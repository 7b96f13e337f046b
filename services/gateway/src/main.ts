// Wiring only: env → config → GatewayService, graceful shutdown on SIGTERM.
import { createLogger, runService } from '@parley/kit';
import { envToCfg } from './config.js';
import { GatewayService } from './service.js';

const cfg = envToCfg(process.env);
const logger = createLogger('gateway', cfg.logLevel);
await runService({ name: 'gateway', logger, create: () => GatewayService.create(cfg, { logger }), shutdownTimeoutMs: 25_000 });
