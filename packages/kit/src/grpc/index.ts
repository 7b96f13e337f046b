export { createGrpcServer, applyServerSocketOptions, type GrpcServer, type GrpcServerOptions, type HealthStatus } from './server.js';
export { createClient, type ClientOptions } from './client.js';
export { fromGrpcError, toServiceError, definitionFor, methodPath } from './codec.js';
export type { CallOptions, Client, HandlerContext, ServiceImpl, UnaryHandler, ServerStreamHandler } from './types.js';
export {
  MESH_CALLS,
  MESH_IDENTITIES,
  MESH_TLS_DIR_ENV,
  MeshIdentityError,
  callersOf,
  identityOfPeer,
  loadMeshIdentity,
  meshIdentity,
  meshIdentityFromEnv,
  serviceIdentityOf,
  type MeshIdentity,
} from './identity.js';
