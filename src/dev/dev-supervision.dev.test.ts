import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Browserbase from '@browserbasehq/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { tool } from '../localcluster/tools.js';
import { repoRoot } from '../shared/repo-root.js';
import { waitFor } from '../testing/wait.js';

/**
 * `make dev` for real (dist/dev/main.js with its control plane, real node, operator and gateway as its own
 * children): the node is a kubelet on containerd, the operator is killed with SIGKILL, the supervisor restarts
 * it, and sessions are still served, the one that ran across the crash and a new one. Ctrl-C (SIGINT) then stops
 * the whole stack with exit code 0 and takes the node down, leaving no kubelet, bridge or mount behind.
 * make dev's network (bf0), ports and a real node of its own: it runs apart from the cluster project (whose node
 * it would refuse to start beside) and beside no `make dev` of this machine.
 */
const GATEWAY_PORT = 18080;
const pidFile = (name: string) => path.join(repoRoot, '.dev/pids', `${name}.pid`);
const pidOf = (name: string) => Number(readFileSync(pidFile(name), 'utf8'));
const nodeState = path.join(repoRoot, '.dev/node');
const kubelets = () =>
  readdirSync('/proc').filter((p) => {
    try {
      return /^\d+$/.test(p) && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'kubelet';
    } catch {
      return false;
    }
  });

describe('make dev supervises its children', () => {
  let dev: ChildProcess | undefined;
  let out = '';
  let err = '';
  afterAll(async () => {
    if (dev && dev.exitCode === null) {
      dev.kill('SIGINT');
      await new Promise((r) => dev?.once('exit', r));
    }
  });

  it('restarts the operator after SIGKILL, keeps serving sessions, and stops on SIGINT', async () => {
    dev = spawn(process.execPath, [path.join(repoRoot, 'dist/dev/main.js')], {
      env: { ...process.env, BF_DEV_GATEWAY_PORT: String(GATEWAY_PORT) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    dev.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    dev.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const apiKey = await waitFor(
      'make dev to be running',
      () => {
        if (dev?.exitCode !== null) throw new Error(`make dev exited: ${out}${err}`);
        return /API key\s+(bf_dev_\w+)/.exec(out)?.[1];
      },
      300_000,
      200,
    );
    const nodes = execFileSync(
      tool('kubectl'),
      ['--kubeconfig', path.join(repoRoot, '.dev/kubeconfig'), 'get', 'nodes', '-o', 'wide'],
      { encoding: 'utf8' },
    );
    expect(nodes).toMatch(/^dev-node\s+Ready\s.*\s10\.244\.0\.1\s.*containerd:\/\/2\./m);
    expect(kubelets()).toHaveLength(1);

    const bb = new Browserbase({ apiKey, baseURL: `http://127.0.0.1:${GATEWAY_PORT}` });
    const before = await bb.sessions.create({ keepAlive: true });
    await waitFor('the first session running', async () => {
      return (await bb.sessions.retrieve(before.id)).status === 'RUNNING';
    });

    const killed = pidOf('operator');
    process.kill(killed, 'SIGKILL');
    await waitFor('the restart logged', () =>
      err.includes('operator exited (signal SIGKILL); restarting in 1.0 s (restart 1)'),
    );
    await waitFor('a new operator', () => pidOf('operator') !== killed);
    await waitFor('the new operator ready', async () =>
      fetch('http://127.0.0.1:8081/readyz').then((r) => r.ok),
    );
    expect(dev.exitCode).toBeNull();

    // The session that ran across the crash is still served; a new one gets a browser from the new operator.
    expect((await bb.sessions.retrieve(before.id)).status).toBe('RUNNING');
    const after = await bb.sessions.create({ keepAlive: true });
    await waitFor('the second session running', async () => {
      return (await bb.sessions.retrieve(after.id)).status === 'RUNNING';
    });
    for (const s of [before, after])
      expect((await bb.sessions.update(s.id, { status: 'REQUEST_RELEASE' })).status).toBe('COMPLETED');

    dev.kill('SIGINT');
    const code = await new Promise((r) => dev?.once('exit', r));
    expect(code).toBe(0);
    expect(out).toContain('stopped.');
    // hack/real-node.sh down ran: no kubelet, no bridge, nothing of the node's state but its logs.
    expect(kubelets()).toEqual([]);
    expect(execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' })).not.toMatch(/^bf0\s/m);
    expect(existsSync(nodeState) ? readdirSync(nodeState) : []).toEqual(['logs']);
  });
});
