import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'e2e/**/*.test.ts'],
    // One real control plane for the whole run (or the cluster named by BF_TEST_KUBECONFIG).
    globalSetup: ['src/localcluster/vitest-global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Tests share one API server; each file uses its own namespaces. Two cores: two files at a time.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
