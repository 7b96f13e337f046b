// The tmplsvc service's configuration: every variable it reads, validated once at start (main.ts passes
// process.env). The chart sets TMPLSVC_GRPC_PORT, TMPLSVC_HTTP_PORT and one TMPLSVC_<SERVICE>_ADDR per
// service it calls (charts/parley/templates/tmplsvc.yaml "calls"; e.g. `groupAddr: peerAddrEnv('TMPLSVC', 'group')`);
// charts/test/env.test.ts holds the two to each other. Add a store with `...infraEnv.cassandra` (or redis, kafka,
// minio) and the chart's "stores"; other settings with `env.int(...)`, `env.str(...)` (@parley/kit).
import { defineConfig, infraEnv, listenEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...infraEnv.common,
  ...listenEnv('TMPLSVC', { grpcPort: 50099, httpPort: 9499 }),
});
export type TmplsvcConfig = ConfigShape<typeof envSpec.schema>;
