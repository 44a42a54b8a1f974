import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { grpcSockets, startObjectStore } from './object-store.js';
import { alive } from './owned-processes.js';

/** The local SeaweedFS: it starts on free ports with its bucket, and stopping it leaves nothing behind. */

function refuses(endpoint: string): Promise<boolean> {
  const url = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('local object store (SeaweedFS)', () => {
  it('runs two at once on their own ports, and stop() ends the process, closes the port and removes the dir', async () => {
    const [one, two] = await Promise.all([startObjectStore(), startObjectStore({ bucket: 'second-bucket' })]);
    expect(one.endpoint).not.toBe(two.endpoint);
    expect(one.accessKeyId).not.toBe(two.accessKeyId);
    const pid = Number(readFileSync(`${one.dir}/weed.pid`, 'utf8'));
    const sockets = grpcSockets(JSON.parse(readFileSync(`${one.dir}/ports.json`, 'utf8')) as number[]);
    expect(alive(pid)).toBe(true);
    expect(await refuses(one.endpoint)).toBe(false);
    expect(sockets.filter((s) => existsSync(s))).toEqual(sockets);

    await one.stop();
    expect(alive(pid)).toBe(false);
    expect(existsSync(one.dir)).toBe(false);
    expect(sockets.filter((s) => existsSync(s))).toEqual([]);
    expect(await refuses(one.endpoint)).toBe(true);
    // The other one is untouched.
    expect(await refuses(two.endpoint)).toBe(false);
    await two.stop();
    await two.stop(); // idempotent
    expect(existsSync(two.dir)).toBe(false);
  });

  it('interrupt() takes it down with its data kept, resume() brings it back on the same endpoint', async () => {
    const store = await startObjectStore();
    try {
      await store.interrupt();
      expect(await refuses(store.endpoint)).toBe(true);
      expect(existsSync(store.dir)).toBe(true);
      await store.resume();
      expect(await refuses(store.endpoint)).toBe(false);
    } finally {
      await store.stop();
    }
    expect(existsSync(store.dir)).toBe(false);
  });
});
