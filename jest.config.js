/** Jest runs every suite against one real Temporal dev server that globalSetup starts. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Transpiled file by file (isolatedModules is set in tsconfig.json); `npm run typecheck` checks types.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  globalSetup: '<rootDir>/test/rig/global-setup.ts',
  globalTeardown: '<rootDir>/test/rig/global-teardown.ts',
  testTimeout: 240000,
  maxWorkers: 2,
};
