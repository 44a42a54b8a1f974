import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pinoPretty from 'pino-pretty';
import { stringify } from 'yaml';
import { tool } from '../localcluster/tools.js';
import { KubeClient } from '../shared/kube/client.js';
import { repoRoot } from '../shared/repo-root.js';
import {
  DEV_NETWORK,
  ensureNamespace,
  reportEndpoint,
  seedProject,
  startLocalControlPlane,
} from './stack.js';
import { type SupervisedChild, supervise } from './supervisor.js';

/**
 * `make dev`: the whole product on this machine. A local control plane, the node agent (browser pods run as
 * real processes), the operator and, once built, the gateway — each browserfleet process as its own OS
 * process, configured as the chart would configure it. A child that exits is restarted with backoff, as a
 * Deployment's container would be (supervisor.ts), so a crash can be watched here; Ctrl-C stops everything.
 * Each child's current pid is in .dev/pids/<name>.pid (for tests that kill one).
 */
const DEV_DIR = path.join(repoRoot, '.dev');
const LOGS = path.join(DEV_DIR, 'logs');
const PIDS = path.join(DEV_DIR, 'pids');
const REPORT_PORT = 8082;
const GATEWAY_PORT = Number(process.env['BF_DEV_GATEWAY_PORT'] ?? 8080);

async function main(): Promise<void> {
  mkdirSync(LOGS, { recursive: true });
  rmSync(PIDS, { recursive: true, force: true });
  mkdirSync(PIDS, { recursive: true });
  const t0 = Date.now();
  const plane = await startLocalControlPlane(DEV_NETWORK);
  const children: SupervisedChild[] = [];
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping browserfleet dev…');
    // The node agent last: it stops the browser pods the operator is deleting.
    for (const c of [...children].reverse()) await c.stop();
    await plane.stop();
    console.log('stopped.');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  const client = await KubeClient.create(plane.kubeconfigPath);
  const sessionKey = randomBytes(32).toString('base64url');
  const apiKey = `bf_dev_${randomBytes(16).toString('hex')}`;
  await ensureNamespace(client, 'browserfleet-system');
  await seedProject(client, {
    project: 'default',
    namespace: 'default',
    apiKey,
    secret: 'default-api-key',
    spec: { concurrency: 10, maxQueued: 50 },
  });

  const env = { ...process.env, BF_KUBECONFIG: plane.kubeconfigPath, BF_SESSION_KEY: sessionKey };
  const run = (name: string, args: string[], extraEnv: Record<string, string>) => {
    const logFile = path.join(LOGS, `${name}.log`);
    // One log file per child across its restarts; the processes log JSON lines, as in a cluster, and make
    // dev's log files are for people to read.
    const pretty = pinoPretty({
      colorize: false,
      translateTime: 'SYS:HH:MM:ss.l',
      destination: createWriteStream(logFile),
    });
    const child = supervise({
      name,
      start: () =>
        spawn(
          'setpriv',
          ['--pdeathsig', 'TERM', '--', process.execPath, path.join(repoRoot, 'dist/main.js'), ...args],
          { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] },
        ),
      onStart: (proc) => {
        // setpriv execs the program: the pid is Node's own.
        writeFileSync(path.join(PIDS, `${name}.pid`), String(proc.pid ?? ''));
        proc.stdout?.pipe(pretty, { end: false });
        proc.stderr?.pipe(pretty, { end: false });
      },
      log: (message) => {
        const line = `${new Date().toISOString()} ${message}; see ${logFile}`;
        console.error(line);
        pretty.write(`${JSON.stringify({ level: 40, time: Date.now(), msg: message })}\n`);
      },
    });
    children.push(child);
  };

  run('localnode', ['localnode'], {
    BF_LOCALNODE_KUBECONFIG: plane.kubeconfigPath,
    BF_LOCALNODE_NODE_NAME: 'dev-node',
    BF_LOCALNODE_POD_CIDR: DEV_NETWORK.podCIDR,
    BF_LOCALNODE_BRIDGE: DEV_NETWORK.bridge,
    // Pods reach Services and the API server by cluster IP and DNS name, as in a cluster.
    BF_LOCALNODE_SERVICE_PROXY: 'true',
    BF_LOCALNODE_STATE_DIR: path.join(DEV_DIR, 'localnode'),
  });
  await waitUntil('the node to be Ready', async () => {
    const node = await client
      .get<{ status?: { conditions?: { type: string; status: string }[] } }>('/api/v1/nodes/dev-node')
      .catch(() => undefined);
    return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  });

  const operatorConfig = path.join(DEV_DIR, 'operator.yaml');
  writeFileSync(
    operatorConfig,
    stringify({
      namespace: 'browserfleet-system',
      ...reportEndpoint(DEV_NETWORK.hostIP, REPORT_PORT),
      metricsListen: '127.0.0.1:8081',
    }),
  );
  run('operator', ['operator', '--config', operatorConfig], {});

  const hasGateway = existsSync(path.join(repoRoot, 'dist/gateway/main.js'));
  if (hasGateway) {
    run('gateway', ['gateway'], {
      BF_GATEWAY_LISTEN: `127.0.0.1:${GATEWAY_PORT}`,
      BF_GATEWAY_PUBLIC_URL: `http://127.0.0.1:${GATEWAY_PORT}`,
      BF_GATEWAY_METRICS_LISTEN: '127.0.0.1:8083',
    });
  }
  await waitUntil('the operator to be ready', () => httpOk('http://127.0.0.1:8081/readyz'));
  if (hasGateway) await waitUntil('the gateway to be ready', () => httpOk('http://127.0.0.1:8083/readyz'));
  const kubeconfigCopy = path.join(DEV_DIR, 'kubeconfig');
  writeFileSync(
    kubeconfigCopy,
    execFileSync(tool('kubectl'), ['--kubeconfig', plane.kubeconfigPath, 'config', 'view', '--raw']),
  );

  console.log(`
browserfleet is running (ready in ${((Date.now() - t0) / 1000).toFixed(1)} s). Ctrl-C stops everything.

  Kubernetes API   ${plane.server}
  kubeconfig       export KUBECONFIG=${kubeconfigCopy}
  logs             tail -f ${LOGS}/*.log
${hasGateway ? `  gateway (REST)   http://127.0.0.1:${GATEWAY_PORT}\n  API key          ${apiKey}\n` : ''}
Try it:
  kubectl apply -f examples/session.yaml
  kubectl get browsersessions -w
${
  hasGateway
    ? `  node -e "import('@browserbasehq/sdk').then(async ({default: B}) => { const bb = new B({apiKey: '${apiKey}', baseURL: 'http://127.0.0.1:${GATEWAY_PORT}'}); console.log(await bb.sessions.create({})) })"`
    : '  node -e "import(\'playwright-core\').then(async ({chromium}) => { /* connectOverCDP(status.connectUrl) */ })"'
}
`);
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; see ${LOGS}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function httpOk(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(1000) })
    .then((r) => r.ok)
    .catch(() => false);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
