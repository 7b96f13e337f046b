// Lint: typescript-eslint's recommended rules (syntax-level, fast) over every package, service and test.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'packages/proto/src/gen/**', '.run/**', 'coverage/**', 'charts/**/templates/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', fetch: 'readonly', AbortSignal: 'readonly', AbortController: 'readonly', __dirname: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', performance: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'warn',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  // The rooms of a service (docs/architecture.md §0): domain/ holds rules with ports; it imports no adapter, no api
  // and no driver (the adapters implement its ports; the api calls it).
  {
    files: ['services/*/src/domain/**/*.ts', 'scripts/service-template/src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['ioredis', 'cassandra-driver', 'kafkajs', '@grpc/grpc-js', 'minio', 'ws', 'fastify'].map((name) => ({ name, message: 'domain/ uses no driver: declare a port in domain/ports.ts and implement it in adapters/' })),
        patterns: [{ group: ['**/adapters/*', '**/api/*', '**/wiring.js'], message: 'domain/ imports no adapter, api or wiring: declare a port in domain/ and let wiring.ts connect them' }],
      }],
    },
  },
);
