import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pinoPretty from 'pino-pretty';
import { stringify } from 'yaml';
import type { ControlPlane } from '../localcluster/control-plane.js';
import { type ObjectStore, startObjectStore } from '../localcluster/object-store.js';
import { type RealNode, startRealNode } from '../localcluster/real-node.js';
import { tool } from '../localcluster/tools.js';
import { parseFlags } from '../shared/config.js';
import { KubeClient } from '../shared/kube/client.js';
import { repoRoot } from '../shared/repo-root.js';
import { affectedBy, type ChangeQueue, changeQueue, type DevProcess, watchBuild } from './dev-loop.js';
import { decidePreflight, observeHost } from './preflight.js';
import {
  CHART_IMAGES,
  DEV_NETWORK,
  ensureNamespace,
  reportEndpoint,
  seedProject,
  startLocalControlPlane,
} from './stack.js';
import { type SupervisedChild, supervise } from './supervisor.js';

/**
 * `make dev`: the whole product on this machine. A local control plane, a real node (kubelet, containerd,
 * kube-proxy: hack/real-node.sh) whose browser pods run the images `make images` built, and the operator and
 * gateway as OS processes from dist/, configured as the chart would configure them. A child that exits is
 * restarted with backoff, as a Deployment's container would be (supervisor.ts), so a crash can be watched here.
 * With --watch (make dev's default) a source change is compiled and reaches what runs it (dev-loop.ts). Ctrl-C
 * stops everything and takes the node down, leaving nothing on the host. Each child's current pid is in
 * .dev/pids/<name>.pid (for tests that kill one).
 */
const run = promisify(execFile);
const DEV_DIR = path.join(repoRoot, '.dev');
const LOGS = path.join(DEV_DIR, 'logs');
const PIDS = path.join(DEV_DIR, 'pids');
const NODE_STATE = path.join(DEV_DIR, 'node');
const NODE_NAME = 'dev-node';
const DIST = path.join(repoRoot, 'dist');
/** This program: another process running it is a make dev of this checkout. */
const DEV_MAIN = path.join(DIST, 'dev/main.js');
const REPORT_PORT = 8082;
const METRICS = { operator: 8081, gateway: 8083 };
const GATEWAY_PORT = Number(process.env['BF_DEV_GATEWAY_PORT'] ?? 8080);
/** What the dev loop builds for new browser pods: the app image with this checkout's dist/ (hack/dev-image.sh). */
const DEV_SIDECAR_IMAGE = CHART_IMAGES.sidecar.replace(
  /^browserfleet\/browserfleet:/,
  'localhost/browserfleet/browserfleet-dev:',
);

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { watch: { type: 'boolean', default: false } });
  mkdirSync(LOGS, { recursive: true });
  await preflight();
  rmSync(PIDS, { recursive: true, force: true });
  mkdirSync(PIDS, { recursive: true });
  const t0 = Date.now();

  let plane: ControlPlane | undefined;
  let store: ObjectStore | undefined;
  let nodeStarting: Promise<RealNode> | undefined;
  // The compiler starts first: its first compile (half a minute on two cores) overlaps the node's start.
  const devLoop = flags.watch ? startDevLoop() : undefined;
  const children = new Map<DevProcess, SupervisedChild>();
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) {
      console.log('still stopping: taking the node down…');
      return;
    }
    stopping = true;
    console.log('\nstopping browserfleet dev…');
    // All at once, so that none of them is restarted meanwhile (a terminal's Ctrl-C reaches them too); the
    // operator before the node, so that it does not recreate pods while the node deletes them.
    await Promise.all([devLoop?.stop(), ...[...children.values()].map((c) => c.stop())]);
    // A node still coming up is taken down once it is (or once its start failed and undid itself).
    const node = await nodeStarting?.catch(() => undefined);
    const t = Date.now();
    await node?.stop().catch((err: unknown) => console.error(`taking the node down failed: ${String(err)}`));
    if (node) console.log(`node ${node.name} down in ${secs(Date.now() - t)}`);
    await plane?.stop();
    await store
      ?.stop()
      .catch((err: unknown) => console.error(`stopping the object store failed: ${String(err)}`));
    console.log('stopped.');
    process.exit(code);
  };
  // SIGHUP too: a closed terminal must not leave a kubelet behind (Node's default for it is to exit at once).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0));

  try {
    plane = await startLocalControlPlane(DEV_NETWORK);
    const kubeconfig = plane.kubeconfigPath;
    nodeStarting = startRealNode({
      stateDir: NODE_STATE,
      kubeconfigPath: kubeconfig,
      name: NODE_NAME,
      bridge: DEV_NETWORK.bridge,
      podCIDR: DEV_NETWORK.podCIDR,
      // The images: the chart's two at package.json's version (CHART_IMAGES), the script's default.
    });
    // Artifacts (downloads) go to a real S3 server of make dev's own, on loopback: the operator and gateway run
    // on this machine. Its credentials reach them in their config files under .dev/, as a Secret would.
    store = await startObjectStore();
    const artifacts = { enabled: true, s3: store.s3 };
    // Seeding and the gateway need no node: they go on while it comes up.
    const client = await KubeClient.create(kubeconfig);
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
    client.close();

    const env = { ...process.env, BF_KUBECONFIG: kubeconfig, BF_SESSION_KEY: sessionKey };
    const launch = (name: DevProcess, args: string[], extraEnv: Record<string, string>) => {
      // Ctrl-C while the node came up: stop() has stopped what ran and nothing new may start.
      if (stopping) return;
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
            ['--pdeathsig', 'TERM', '--', process.execPath, path.join(DIST, 'main.js'), ...args],
            {
              env: { ...env, ...extraEnv },
              stdio: ['ignore', 'pipe', 'pipe'],
            },
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
      children.set(name, child);
    };

    const hasGateway = existsSync(path.join(DIST, 'gateway/main.js'));
    if (hasGateway) {
      const gatewayConfig = path.join(DEV_DIR, 'gateway.yaml');
      writeFileSync(gatewayConfig, stringify({ artifacts }), { mode: 0o600 });
      launch('gateway', ['gateway', '--config', gatewayConfig], {
        BF_GATEWAY_LISTEN: `127.0.0.1:${GATEWAY_PORT}`,
        BF_GATEWAY_PUBLIC_URL: `http://127.0.0.1:${GATEWAY_PORT}`,
        BF_GATEWAY_METRICS_LISTEN: `127.0.0.1:${METRICS.gateway}`,
      });
    }

    const node = await nodeStarting;
    if (stopping) return;
    // The report endpoint listens on the node's address, the one of this machine that pods reach.
    if (node.ip !== DEV_NETWORK.hostIP) {
      throw new Error(`the node's IP is ${node.ip}, not make dev's host address ${DEV_NETWORK.hostIP}`);
    }
    const operatorConfig = path.join(DEV_DIR, 'operator.yaml');
    const writeOperatorConfig = (sidecarImage: string) =>
      writeFileSync(
        operatorConfig,
        stringify({
          namespace: 'browserfleet-system',
          ...reportEndpoint(node.ip, REPORT_PORT),
          metricsListen: `127.0.0.1:${METRICS.operator}`,
          // The chart's image names, as `make images` builds them; IfNotPresent finds them on the node.
          chrome: { image: CHART_IMAGES.chrome },
          sidecar: { image: sidecarImage },
          artifacts,
        }),
        { mode: 0o600 },
      );
    writeOperatorConfig(CHART_IMAGES.sidecar);
    launch('operator', ['operator', '--config', operatorConfig], {});
    await waitUntil('the operator to be ready', () => httpOk(`http://127.0.0.1:${METRICS.operator}/readyz`));
    if (hasGateway) {
      await waitUntil('the gateway to be ready', () => httpOk(`http://127.0.0.1:${METRICS.gateway}/readyz`));
    }
    const kubeconfigCopy = path.join(DEV_DIR, 'kubeconfig');
    writeFileSync(
      kubeconfigCopy,
      execFileSync(tool('kubectl'), ['--kubeconfig', kubeconfig, 'config', 'view', '--raw']),
    );
    const nodes = execFileSync(tool('kubectl'), ['--kubeconfig', kubeconfig, 'get', 'nodes', '-o', 'wide'], {
      encoding: 'utf8',
    });

    if (devLoop) {
      let sidecarImage: string = CHART_IMAGES.sidecar;
      devLoop.apply = async (changed, startedAt) => {
        const { processes, makeDev } = affectedBy(changed);
        if (makeDev.length > 0) {
          console.log(
            `dev loop: ${makeDev.join(', ')} changed; make dev itself runs it: restart make dev for it`,
          );
        }
        if (processes.size === 0) return;
        const done: string[] = [];
        if (processes.has('sidecar')) {
          done.push(await rebuildSidecarImage());
          // Once the operator names the dev image, a new build under the same name is what new pods get.
          if (sidecarImage !== DEV_SIDECAR_IMAGE) {
            sidecarImage = DEV_SIDECAR_IMAGE;
            writeOperatorConfig(sidecarImage);
            processes.add('operator');
          }
        }
        const restarted = (['operator', 'gateway'] as const).filter(
          (p) => processes.has(p) && children.has(p),
        );
        await Promise.all(restarted.map((p) => children.get(p)?.restart()));
        for (const p of restarted) {
          await waitUntil(`the ${p} to be ready`, () => httpOk(`http://127.0.0.1:${METRICS[p]}/readyz`));
        }
        if (restarted.length > 0) done.push(`${restarted.join(' and ')} restarted`);
        console.log(
          `dev loop: ${done.join('; ')}; ${secs(Date.now() - startedAt)} after the compile started`,
        );
      };
      devLoop.queue.open();
    }

    console.log(`
browserfleet is running (ready in ${secs(Date.now() - t0)}; the node came up in ${secs(node.upMs)}). Ctrl-C stops everything.

  Kubernetes API   ${plane.server}
  kubeconfig       export KUBECONFIG=${kubeconfigCopy}
  logs             tail -f ${LOGS}/*.log   (the node's: ${NODE_STATE}/logs/)
  artifacts        bucket ${store.bucket} at ${store.endpoint} (SeaweedFS; downloads are kept there)
${hasGateway ? `  gateway (REST)   http://127.0.0.1:${GATEWAY_PORT}\n  API key          ${apiKey}\n` : ''}  dev loop         ${
      devLoop
        ? 'on: a saved change of src/ is compiled; the operator and gateway restart, new browser pods get the sidecar'
        : 'off (make dev WATCH=1, or node dist/dev/main.js --watch)'
    }

${nodes}
Try it:
  kubectl apply -f examples/session.yaml
  kubectl get browsersessions -w
${
  hasGateway
    ? `  node -e "import('@browserbasehq/sdk').then(async ({default: B}) => { const bb = new B({apiKey: '${apiKey}', baseURL: 'http://127.0.0.1:${GATEWAY_PORT}'}); console.log(await bb.sessions.create({})) })"`
    : '  node -e "import(\'playwright-core\').then(async ({chromium}) => { /* connectOverCDP(status.connectUrl) */ })"'
}
`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    await stop(1);
  }
}

/**
 * The dev loop: `tsc --watch` from now on; changes are held until make dev is ready and then applied one at a
 * time by `apply`, which main() sets once the processes it restarts are running.
 */
interface DevLoop {
  /** What a change does; set by main() once the processes it restarts run. Until then changes wait. */
  apply: (changed: string[], startedAt: number) => Promise<void>;
  queue: ChangeQueue;
  stop(): Promise<void>;
}

function startDevLoop(): DevLoop {
  const queue = changeQueue(
    (changed, startedAt) => loop.apply(changed, startedAt),
    (err) => console.error(`dev loop: ${err instanceof Error ? err.message : String(err)}`),
  );
  const watcher = watchBuild({
    repoRoot,
    distDir: DIST,
    onBuilt: (changed, startedAt) => queue.add(changed, startedAt),
    log: (message) => console.error(message),
  });
  const loop: DevLoop = {
    apply: async () => undefined,
    queue,
    async stop() {
      await queue.close();
      await watcher.stop();
    },
  };
  return loop;
}

/** The app image with this checkout's dist/ on top, copied into the node's containerd (hack/dev-image.sh). */
async function rebuildSidecarImage(): Promise<string> {
  const t = Date.now();
  await run('bash', [
    path.join(repoRoot, 'hack/dev-image.sh'),
    CHART_IMAGES.sidecar,
    DEV_SIDECAR_IMAGE,
    DIST,
  ]);
  const built = Date.now();
  await run('bash', [path.join(repoRoot, 'hack/real-node.sh'), 'import', NODE_STATE, DEV_SIDECAR_IMAGE]);
  return (
    `sidecar image ${DEV_SIDECAR_IMAGE} built in ${secs(built - t)} and copied into containerd in ` +
    `${secs(Date.now() - built)} (new browser pods run it)`
  );
}

/** Refuses to start beside another real node (or on a taken network or port); clears what a killed make dev left. */
async function preflight(): Promise<void> {
  const dev = { stateDir: NODE_STATE, podCIDR: DEV_NETWORK.podCIDR, bridge: DEV_NETWORK.bridge };
  const ports = [GATEWAY_PORT, METRICS.operator, METRICS.gateway];
  let verdict = decidePreflight(await observeHost(dev, DEV_MAIN, ports), dev);
  if (verdict.kind === 'take-down-leftover') {
    console.log(`make dev: taking down ${verdict.why}`);
    execFileSync('bash', [path.join(repoRoot, 'hack/real-node.sh'), 'down', NODE_STATE], {
      stdio: 'inherit',
    });
    verdict = decidePreflight(await observeHost(dev, DEV_MAIN, ports), dev);
  }
  if (verdict.kind === 'go') return;
  const reasons = verdict.kind === 'refuse' ? verdict.reasons : [`${verdict.why} is still there`];
  console.error(`make dev cannot start:\n${reasons.map((r) => `  - ${r}`).join('\n')}`);
  process.exit(1);
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

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
