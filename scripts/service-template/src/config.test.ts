import { envSpec } from './config.js';

describe('the template service', () => {
  it('reads its ports from the variables the chart sets', () => {
    expect(envSpec.names).toEqual(expect.arrayContaining(['TMPLSVC_GRPC_PORT', 'TMPLSVC_HTTP_PORT']));
    const cfg = envSpec.parse({ TMPLSVC_GRPC_PORT: '50123', TMPLSVC_HTTP_PORT: '9123' });
    expect([cfg.grpcPort, cfg.httpPort, cfg.host]).toEqual([50123, 9123, '0.0.0.0']);
  });
});
