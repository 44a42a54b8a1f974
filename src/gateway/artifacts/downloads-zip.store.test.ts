import { randomBytes } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { createS3ArtifactStore } from '../../shared/artifacts/s3-store.js';
import { ArtifactStoreError } from '../../shared/artifacts/store.js';
import { useObjectStore } from '../../testing/object-store.js';
import { unzip } from '../../testing/zip.js';
import { downloadsZip } from './downloads-zip.js';

/** The downloads zip, built from a real SeaweedFS and read back with yauzl. */

const world = useObjectStore();

describe('downloads zip', () => {
  it('holds exactly the stored downloads, no logs, and is as long as it said', async () => {
    const scope = { project: 'default', session: 'zip-some' };
    const pdf = randomBytes(256 * 1024);
    await world.store.put(scope, 'downloads', 'report-1719265797164.pdf', pdf, pdf.length);
    await world.store.put(scope, 'downloads', 'naïve name.txt', Buffer.from('hi\n'), 3);
    await world.store.put(scope, 'logs', 'cdp-000001.jsonl', Buffer.from('{}\n'), 3);
    const zip = await downloadsZip(world.store, scope);
    expect(zip.entries).toBe(2);
    const bytes = await buffer(zip.stream);
    expect(bytes.length).toBe(zip.bytes);
    const entries = await unzip(bytes);
    expect([...entries.keys()].sort()).toEqual(['naïve name.txt', 'report-1719265797164.pdf']);
    expect(entries.get('report-1719265797164.pdf')?.equals(pdf)).toBe(true);
    expect(entries.get('naïve name.txt')?.toString()).toBe('hi\n');
  });

  it('is an empty zip (not nothing) for a session without downloads', async () => {
    const zip = await downloadsZip(world.store, { project: 'default', session: 'zip-none' });
    const bytes = await buffer(zip.stream);
    expect(zip.entries).toBe(0);
    expect(bytes.length).toBe(zip.bytes);
    expect(bytes.length).toBeGreaterThan(0);
    expect((await unzip(bytes)).size).toBe(0);
  });

  it('fails before producing a byte when the store does not answer', async () => {
    const quick = createS3ArtifactStore({ ...world.server.s3, maxAttempts: 1, stallTimeoutMs: 1000 });
    await world.server.interrupt();
    try {
      const err = await downloadsZip(quick, { project: 'default', session: 'zip-some' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ArtifactStoreError);
      expect((err as ArtifactStoreError).reason).toBe('Unreachable');
    } finally {
      await world.server.resume();
      quick.close();
    }
  });
});
