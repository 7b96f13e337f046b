// Entry point: the only file that reads process.env; config, logger, signals and exit codes are the kit's (serviceMain).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { serviceMain } from '@parley/kit';
import { envToCfg } from './config.js';
import { GatewayService } from './wiring.js';

/** The web client served at `/`: the build of the @parley/web dependency (its package ships `dist`). */
function webClientDir(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@parley/web/package.json')), 'dist');
  } catch {
    return undefined;
  }
}

const config = { parse: (env: NodeJS.ProcessEnv) => envToCfg(env, { webDir: webClientDir() }) };
await serviceMain({ name: 'gateway', config, service: GatewayService, shutdownTimeoutMs: 25_000 });

// Bench aid (services/gateway/scripts/conn-bench.mjs): with NODE_OPTIONS=--expose-gc, SIGUSR2 runs a full GC
// so memory per connection is measured without garbage. Inert otherwise.
const gc = (globalThis as { gc?: () => void }).gc;
if (typeof gc === 'function') process.on('SIGUSR2', () => gc());
