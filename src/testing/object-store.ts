import { afterAll, beforeAll } from 'vitest';
import { type ObjectStore, startObjectStore } from '../localcluster/object-store.js';
import { createS3ArtifactStore } from '../shared/artifacts/s3-store.js';
import type { ArtifactStore } from '../shared/artifacts/store.js';

/**
 * A test file's real SeaweedFS on loopback (src/localcluster/object-store.ts) and an artifact store on it, started
 * before its tests and stopped after them. Read `server` and `store` inside tests (they exist from beforeAll on).
 */
export function useObjectStore(): { readonly server: ObjectStore; readonly store: ArtifactStore } {
  let server: ObjectStore | undefined;
  let store: ArtifactStore | undefined;
  beforeAll(async () => {
    server = await startObjectStore();
    store = createS3ArtifactStore(server.s3);
  }, 120_000);
  afterAll(async () => {
    store?.close();
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error('the object store is not started yet');
      return server;
    },
    get store() {
      if (!store) throw new Error('the object store is not started yet');
      return store;
    },
  };
}
