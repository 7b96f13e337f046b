export * from './mesh.js';
export * from './infra.js';
export * from './push-fakes/index.js';
export * from './pki.js';
