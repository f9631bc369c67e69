/** Jest runs every suite against one real Temporal dev server that globalSetup starts. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true, diagnostics: false }] },
  globalSetup: '<rootDir>/test/rig/global-setup.ts',
  globalTeardown: '<rootDir>/test/rig/global-teardown.ts',
  testTimeout: 240000,
  maxWorkers: 2,
};
