import { defineConfig } from 'vitest/config';

// The reliability suite (npm run test:reliability): bounded in time and count, loopback only.
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    // One scenario at a time: they measure memory and timing of a real conductor.
    fileParallelism: false,
  },
});
