import { defineConfig } from 'vitest/config';

/**
 * Three layers, told apart by file name:
 * - `unit`: `*.test.ts` under src/ — pure logic and loopback servers; no cluster, no root, no network
 *   namespace, no Chromium, no Kubernetes binary. `make unit`.
 * - `chrome`: `*.chrome.test.ts` — a real headless Chromium on loopback, still no cluster.
 * - `store`: `*.store.test.ts` — a real S3 server (SeaweedFS, from `make tools`) on loopback, still no cluster
 *   and no root.
 * - `cluster`: `*.cluster.test.ts` and e2e/ — one real control plane and one real node for the whole run
 *   (or the cluster named by BF_TEST_KUBECONFIG), started by the global setup.
 * - `dev`: `*.dev.test.ts` — `make dev` itself, with its own control plane and real node. One real node runs
 *   per machine, so `make test` runs this project apart from (after) the others: `vitest run --project dev`.
 * - `chaos`: e2e/chaos.test.ts — a cluster and real node of its own, so it cannot run while the cluster
 *   project's node is up (one real node per machine): `make test` runs it after the cluster project.
 */
export default defineConfig({
  test: {
    // Cluster tests share one API server; each file uses its own namespaces. Two cores: two files at a time.
    maxWorkers: 2,
    // The digest last: CI keeps the tail of the log, and it says which tests failed and why.
    reporters: ['default', './src/testing/failure-digest-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
          // A guard against hangs, not a speed limit: on two busy cores the bounded fuzz runs can take seconds.
          testTimeout: 30_000,
          exclude: [
            'src/**/*.cluster.test.ts',
            'src/**/*.chrome.test.ts',
            'src/**/*.dev.test.ts',
            'src/**/*.store.test.ts',
          ],
        },
      },
      {
        test: {
          name: 'chrome',
          include: ['src/**/*.chrome.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'store',
          include: ['src/**/*.store.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['src/**/*.cluster.test.ts', 'e2e/**/*.test.ts'],
          exclude: ['e2e/chaos.test.ts'],
          globalSetup: ['src/testing/vitest-global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'dev',
          include: ['src/**/*.dev.test.ts'],
          fileParallelism: false,
          testTimeout: 480_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['e2e/chaos.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
