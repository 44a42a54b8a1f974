import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidr } from '../shared/cidr.js';
import { PodNetwork, type Sandbox } from './network.js';
import {
  ContainerProcess,
  DEFAULT_PATH,
  isRunning,
  killRecordedGroup,
  processStartTime,
  StartError,
} from './process-runner.js';

const suffix = randomBytes(2).toString('hex');
const net = new PodNetwork({
  ipPath: '/usr/sbin/ip',
  bridge: `bfr${suffix}`,
  cidr: parseCidr('10.251.17.0/24'),
  nodeName: `proctest-${suffix}`,
});
let dir: string;
let sandbox: Sandbox;
const started: ContainerProcess[] = [];

async function run(script: string, opts: { netns?: boolean; name?: string } = {}): Promise<ContainerProcess> {
  const p = await ContainerProcess.start({
    argv: ['sh', '-c', script],
    env: { PATH: DEFAULT_PATH, GREETING: 'hello' },
    cwd: dir,
    logPath: join(dir, `${opts.name ?? 'c'}.log`),
    ipPath: '/usr/sbin/ip',
    ...(opts.netns ? { netns: sandbox.netns } : {}),
  });
  started.push(p);
  return p;
}

describe('ContainerProcess', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'localnode-proc-'));
    await net.ensureBridge();
    sandbox = await net.createSandbox('proc-pod', '10.251.17.5');
  });

  afterAll(async () => {
    for (const p of started) await p.stop(0);
    await net.removeStale();
    await net.removeBridge();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs in the pod namespace with the given env, logging to a file, and reports the exit code', async () => {
    const p = await run(
      'echo "$GREETING from $(ip -br addr show eth0 | tr -s " " | cut -d" " -f3) in $(readlink /proc/$$/ns/net)"; echo oops >&2; exit 7',
      {
        netns: true,
        name: 'env',
      },
    );
    const exit = await p.exited;
    expect(exit.exitCode).toBe(7);
    expect(p.running).toBe(false);
    const log = await readFile(join(dir, 'env.log'), 'utf8');
    expect(log).toContain(`hello from 10.251.17.5/24 in net:[${sandbox.netnsInode}]`);
    expect(log).toContain('oops');
  });

  it('stops the whole process group with SIGTERM, reporting 128+15', async () => {
    const p = await run('sleep 60 & sleep 60 & wait', { name: 'group' });
    await new Promise((r) => setTimeout(r, 200));
    const exit = await p.stop(5000);
    expect(exit.exitCode).toBe(143);
    expect(exit.signal).toBe(15);
  });

  it('escalates to SIGKILL after the grace period', async () => {
    const p = await run('trap "" TERM; while true; do sleep 0.1; done', { name: 'stubborn' });
    await new Promise((r) => setTimeout(r, 200));
    const exit = await p.stop(300);
    expect(exit.exitCode).toBe(137);
  });

  it('takes the rest of the group down when the main process exits', async () => {
    const p = await run('sleep 60 & echo $! > child.pid; exit 0', { name: 'orphan' });
    await p.exited;
    const child = Number((await readFile(join(dir, 'child.pid'), 'utf8')).trim());
    for (let i = 0; i < 50 && (await isRunning(child)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await isRunning(child)).toBe(false);
  });

  it('reports a missing program as a start error', async () => {
    await expect(
      ContainerProcess.start({
        argv: ['no-such-program-here'],
        env: { PATH: DEFAULT_PATH },
        cwd: dir,
        logPath: join(dir, 'missing.log'),
        ipPath: '/usr/sbin/ip',
      }),
    ).rejects.toBeInstanceOf(StartError);
  });

  it('kills a recorded group only while its leader is the same process', async () => {
    const p = await run('sleep 60', { name: 'recorded' });
    const startTime = await processStartTime(p.pid);
    expect(startTime).toBeDefined();
    expect(await killRecordedGroup(p.pid, 'not-its-start-time')).toBe(false);
    expect(p.running).toBe(true);
    expect(await killRecordedGroup(p.pid, startTime)).toBe(true);
    expect((await p.exited).exitCode).toBe(137);
  });
});
