/**
 * Two projects: every test runs on the pure-JS `cpu` backend, and the numeric
 * core (ops, the article's functions, training) runs again on `wasm`.
 * @type {import('jest').Config}
 */
const base = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  setupFilesAfterEnv: ['<rootDir>/__tests__/setup.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
};

module.exports = {
  testTimeout: 60000,
  projects: [
    {
      ...base,
      displayName: 'cpu',
      testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
      globals: { TFJS_TEST_BACKEND: 'cpu' },
    },
    {
      ...base,
      displayName: 'wasm',
      testMatch: [
        '<rootDir>/__tests__/seed.test.ts',
        '<rootDir>/__tests__/ops/**/*.test.ts',
        '<rootDir>/__tests__/kernels/**/*.test.ts',
        '<rootDir>/__tests__/**/*.wasm.test.ts',
      ],
      globals: { TFJS_TEST_BACKEND: 'wasm' },
    },
  ],
};
