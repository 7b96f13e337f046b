// The tmplsvc service's composition root: builds its adapters (each replaceable by an override), its domain
// objects and its api, and lists the start and stop steps in the order they run (@parley/kit Lifecycle).
// Nothing here opens a port or a connection before start.
//   api/       what the service serves: gRPC handlers (api/grpc/<service>-service.ts), Kafka consumers (api/kafka/)
//   domain/    the rules, talking to the world through the ports in domain/ports.ts; no driver, no wire format
//   adapters/  the ports' implementations: stores, producers, clients of the services it calls
import { createGrpcServer, createLogger, createMetrics, Lifecycle, LifecycleService, type Logger } from '@parley/kit';
import type { TmplsvcConfig } from './config.js';
import { Greeter } from './domain/greeter.js';

export interface TmplsvcServiceOverrides {
  logger?: Logger;
  /** Host to bind (default: TMPLSVC_HOST). */
  host?: string;
}

export class TmplsvcService extends LifecycleService {
  private constructor(
    readonly cfg: TmplsvcConfig,
    readonly greeter: Greeter,
    readonly life: Lifecycle,
  ) {
    super();
  }

  static async create(cfg: TmplsvcConfig, overrides: TmplsvcServiceOverrides = {}): Promise<TmplsvcService> {
    const logger = overrides.logger ?? createLogger('tmplsvc', cfg.logLevel);
    const host = overrides.host ?? cfg.host;
    const metrics = createMetrics('tmplsvc');
    const greeter = new Greeter();
    const grpc = createGrpcServer({ logger, metrics });
    // grpc.addService(tmplsvcV1.TmplsvcService, tmplsvcServiceImpl(greeter)); once proto/parley/tmplsvc/v1 exists.
    const life = new Lifecycle({ name: 'tmplsvc', logger, grpc, checks: {} });
    life.startReadiness().listenGrpc(host, cfg.grpcPort).serveOps(host, cfg.httpPort, metrics.registry);
    life.stopGrpc().stopOps();
    return new TmplsvcService(cfg, greeter, life);
  }
}
