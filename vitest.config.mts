import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // test/unit: no build, no services (`npm run test:unit`); test/processor: runs the built dist/;
    // test/services: real InfluxDB, Mosquitto or Chromium; test/harness: helpers; test/cases: data-driven cases.
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    setupFiles: ['test/harness/fast-check-seed.ts'],
    hookTimeout: 120_000,
    // Real services (InfluxDB, Mosquitto, Chromium) are started per test file; keep the 2-core CI machine calm.
    fileParallelism: true,
    maxWorkers: 2,
    server: { deps: { inline: [/@grafana\//] } },
  },
});
