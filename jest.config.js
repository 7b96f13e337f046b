// Tiers (conventions.md §13): unit (no I/O), integration (real servers), e2e (whole mesh), browser (web client).
// TypeScript is transformed by SWC into CommonJS for jest; workspace packages resolve to their sources.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
};
const moduleNameMapper = {
  '^@parley/(proto|kit|client|testing)$': '<rootDir>/packages/$1/src/index.ts',
  '^(\\.{1,2}/.*)\\.js$': '$1',
};
const common = { rootDir: '.', transform, moduleNameMapper, testEnvironment: 'node', moduleFileExtensions: ['ts', 'js', 'json'] };

export default {
  // A global option in jest 30 (the `testTimeout` of a project entry is ignored, so integration tests ran with
  // the 5 s default and failed on a loaded box); e2e suites raise it further with jest.setTimeout.
  testTimeout: 60000,
  projects: [
    // scripts/service-template: the template new services are made from (scripts/new-service.mjs), tested in place.
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{packages,services}/*/src/**/*.test.ts', '<rootDir>/bench/src/**/*.test.ts', '<rootDir>/scripts/service-template/src/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/{packages,services}/*/test/**/*.test.ts', '<rootDir>/charts/test/**/*.test.ts', '<rootDir>/infra/test/**/*.test.ts'], testTimeout: 60000 },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/e2e/**/*.test.ts'], testTimeout: 180000 },
    // `./parley chaos` only (not in `./parley test`): the fault campaign on private servers (e2e/chaos).
    { ...common, displayName: 'chaos', testMatch: ['<rootDir>/e2e/chaos/**/*.chaos.ts'], testTimeout: 1800000 },
    // The web client (web/) in a real Chromium against a whole mesh (web/README.md).
    { ...common, displayName: 'browser', testMatch: ['<rootDir>/web/test/**/*.test.ts'], testTimeout: 180000 },
  ],
};
