import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { useObjectStore } from '../../testing/object-store.js';
import { createS3ArtifactStore } from './s3-store.js';
import { ArtifactStoreError } from './store.js';

/** The S3 backend against a real SeaweedFS on loopback (src/localcluster/object-store.ts). */

const world = useObjectStore();

const a = { project: 'default', session: 'session-a' };
const b = { project: 'default', session: 'session-b' };
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function rejection(p: Promise<unknown>): Promise<ArtifactStoreError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ArtifactStoreError))
    throw new Error(`expected an ArtifactStoreError, got ${String(err)}`);
  return err;
}

describe('S3 artifact store (SeaweedFS)', () => {
  it('stores a buffer and a stream and gives back exactly their bytes, listed per session', async () => {
    const small = Buffer.from('hello, artifact\n');
    const big = randomBytes(3 * 1024 * 1024 + 17);
    await world.store.put(a, 'downloads', 'hello.txt', small, small.length, 'text/plain');
    await world.store.put(
      a,
      'downloads',
      'big file.bin',
      Readable.from([big.subarray(0, 1000), big.subarray(1000)]),
      big.length,
    );
    await world.store.put(a, 'logs', 'cdp-000001.jsonl', Buffer.from('{}\n'), 3);
    await world.store.put(b, 'downloads', 'hello.txt', Buffer.from('other'), 5);

    const opened = await world.store.open(a, 'downloads', 'big file.bin');
    expect(opened?.bytes).toBe(big.length);
    expect(sha(await buffer(opened?.body ?? Readable.from([])))).toBe(sha(big));
    const hello = await world.store.open(a, 'downloads', 'hello.txt');
    expect((await buffer(hello?.body ?? Readable.from([]))).toString()).toBe('hello, artifact\n');

    const listed = await world.store.list(a);
    expect(listed.map((o) => [o.kind, o.name, o.bytes])).toEqual([
      ['downloads', 'big file.bin', big.length],
      ['downloads', 'hello.txt', small.length],
      ['logs', 'cdp-000001.jsonl', 3],
    ]);
    expect((await world.store.list(a, 'logs')).map((o) => o.name)).toEqual(['cdp-000001.jsonl']);
    expect((await world.store.list(b)).map((o) => [o.name, o.bytes])).toEqual([['hello.txt', 5]]);
    for (const o of listed) expect(o.modifiedAt.getTime()).toBeGreaterThan(Date.parse('2020-01-01'));
  });

  it('answers undefined for an artifact the session does not have, and an empty list for a new session', async () => {
    expect(await world.store.open(a, 'downloads', 'never-stored')).toBeUndefined();
    expect(await world.store.list({ project: 'default', session: 'never-used' })).toEqual([]);
  });

  it('replaces an artifact of the same name', async () => {
    const s = { project: 'default', session: 'replace' };
    await world.store.put(s, 'downloads', 'x', Buffer.from('first'), 5);
    await world.store.put(s, 'downloads', 'x', Buffer.from('second!'), 7);
    const got = await world.store.open(s, 'downloads', 'x');
    expect((await buffer(got?.body ?? Readable.from([]))).toString()).toBe('second!');
    expect((await world.store.list(s)).length).toBe(1);
  });

  it('refuses a stream shorter than the length it was declared with, and stores nothing for it', async () => {
    const s = { project: 'default', session: 'short-stream' };
    await expect(
      world.store.put(s, 'downloads', 'short', Readable.from([Buffer.from('only ten b')]), 20),
    ).rejects.toThrow();
    expect(await world.store.list(s)).toEqual([]);
  });

  it('deletes one session and nothing else, and deleting again finds nothing', async () => {
    const s = { project: 'default', session: 'to-delete' };
    for (let i = 0; i < 5; i++) await world.store.put(s, 'downloads', `f${i}`, Buffer.from(String(i)), 1);
    await world.store.put(s, 'logs', 'cdp.jsonl', Buffer.from('{}'), 2);
    expect(await world.store.deleteSession(s)).toBe(6);
    expect(await world.store.list(s)).toEqual([]);
    expect(await world.store.deleteSession(s)).toBe(0);
    expect((await world.store.list(b)).length).toBe(1);
  });

  it('lists a project’s sessions with their newest write, and no other project’s', async () => {
    const p = { project: 'retained' };
    const before = Date.now() - 2000;
    await world.store.put({ ...p, session: 's-1' }, 'downloads', 'a.txt', Buffer.from('a'), 1);
    await world.store.put({ ...p, session: 's-1' }, 'logs', 'cdp-log.json', Buffer.from('[]'), 2);
    await world.store.put({ ...p, session: 's-2' }, 'downloads', 'b.txt', Buffer.from('b'), 1);
    await world.store.put(
      { project: 'retained-other', session: 's-3' },
      'downloads',
      'c.txt',
      Buffer.from('c'),
      1,
    );
    const listed = await world.store.listSessions('retained');
    expect(listed.map((s) => [s.session, s.artifacts])).toEqual([
      ['s-1', 2],
      ['s-2', 1],
    ]);
    for (const s of listed) expect(s.newestAt.getTime()).toBeGreaterThan(before);
    expect(await world.store.listSessions('nobody')).toEqual([]);
  });

  it('checks the bucket, and names what is wrong: a missing bucket, refused credentials', async () => {
    await world.store.check();
    const noBucket = createS3ArtifactStore({ ...world.server.s3, bucket: 'no-such-bucket' });
    const wrongKey = createS3ArtifactStore({ ...world.server.s3, secretAccessKey: 'not-the-secret' });
    try {
      const missing = await rejection(noBucket.check());
      expect(missing.reason).toBe('NoSuchBucket');
      expect(missing.message).toContain('checking the bucket in s3 bucket no-such-bucket');
      const denied = await rejection(wrongKey.put(a, 'downloads', 'x', Buffer.from('x'), 1));
      expect(denied.reason).toBe('AccessDenied');
      expect(denied.message).toContain('storing downloads/x');
      expect((await rejection(wrongKey.list(a))).reason).toBe('AccessDenied');
    } finally {
      noBucket.close();
      wrongKey.close();
    }
  });

  it('says the store is unreachable while it is down, and works again once it is back', async () => {
    const s = { project: 'default', session: 'outage' };
    await world.store.put(s, 'downloads', 'before', Buffer.from('kept'), 4);
    const quick = createS3ArtifactStore({ ...world.server.s3, maxAttempts: 1, stallTimeoutMs: 1000 });
    try {
      await world.server.interrupt();
      const down = await rejection(quick.put(s, 'downloads', 'during', Buffer.from('x'), 1));
      expect(down.reason).toBe('Unreachable');
      expect(down.message).toContain(
        `storing downloads/during in s3 bucket ${world.server.bucket} at ${world.server.endpoint}`,
      );
      expect((await rejection(quick.check())).reason).toBe('Unreachable');
      expect((await rejection(quick.open(s, 'downloads', 'before'))).reason).toBe('Unreachable');
    } finally {
      await world.server.resume();
      quick.close();
    }
    const kept = await world.store.open(s, 'downloads', 'before');
    expect((await buffer(kept?.body ?? Readable.from([]))).toString()).toBe('kept');
    expect((await world.store.list(s)).map((o) => o.name)).toEqual(['before']);
  });
});
