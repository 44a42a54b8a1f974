import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { containerPid } from './containers.js';

describe('containerPid', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("finds the container's cgroup under kubepods and picks the process whose parent is outside it", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'bf-cgroup-'));
    // This process stands for the container's own process, and a child of it for what that process started.
    const child = spawn('sleep', ['30']);
    try {
      const cg = path.join(dir, 'burstable', 'pod1234', 'abc123');
      await mkdir(cg, { recursive: true });
      await writeFile(path.join(cg, 'cgroup.procs'), `${child.pid}\n${process.pid}\n`);
      await mkdir(path.join(dir, 'podother', 'def456'), { recursive: true });
      expect(await containerPid('abc123', dir)).toBe(process.pid);
      expect(await containerPid('fff000', dir)).toBeUndefined();
    } finally {
      child.kill();
    }
  });
});
