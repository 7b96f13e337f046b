// The tmplsvc service's configuration: every variable it reads, validated once at start (main.ts passes
// process.env). The chart sets TMPLSVC_GRPC_PORT, TMPLSVC_HTTP_PORT and one TMPLSVC_<SERVICE>_ADDR per
// service it calls (charts/parley/templates/tmplsvc.yaml "calls"); charts/test/env.test.ts holds the two
// to each other. Add a store with `...infraEnv.cassandra` (or redis, kafka, minio) and the chart's "stores".
import { defineConfig, env, infraEnv, type ConfigShape } from '@parley/kit';

export const envSpec = defineConfig({
  ...infraEnv.common,
  host: env.str('TMPLSVC_HOST', { default: '0.0.0.0' }),
  grpcPort: env.int('TMPLSVC_GRPC_PORT', { default: 50099, min: 0, max: 65535 }),
  httpPort: env.int('TMPLSVC_HTTP_PORT', { default: 9499, min: 0, max: 65535 }),
});
export type TmplsvcConfig = ConfigShape<typeof envSpec.schema>;
