export * from './mesh.js';
export * from './infra.js';
