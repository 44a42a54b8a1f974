import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { BrowserProject, BrowserSession } from '../src/api/index.js';
import { ensureApiKeySecret, ensureProject } from '../src/dev/stack.js';
import { defaultGatewayConfig, type GatewayConfig, validateGatewayConfig } from '../src/gateway/config.js';
import { type Gateway, startGateway } from '../src/gateway/gateway.js';
import { freePorts } from '../src/localcluster/control-plane.js';
import type { OperatorConfig } from '../src/operator/config.js';
import { paths } from '../src/shared/kube/client.js';
import { createLogger } from '../src/shared/log.js';
import { uniqueName } from '../src/testing/cluster.js';
import { type SiteServer, startSite } from '../src/testing/site-server.js';
import { type SessionStack, startSessionStack } from '../src/testing/stack.js';
import { waitFor } from '../src/testing/wait.js';

/**
 * One test file's world: the session stack (its own namespace, project and operator; pods on the suite's
 * local node), a gateway in-process on loopback, the project's API key in a Secret, and a second project in
 * the same namespace with its own key (to prove one project never sees another's sessions).
 */
export interface GatewayStack {
  stack: SessionStack;
  pods: PodRuntime;
  gateway: Gateway;
  config: GatewayConfig;
  /** http://127.0.0.1:<port>: what the SDKs get as their base URL. */
  baseUrl: string;
  project: string;
  apiKey: string;
  otherProject: string;
  otherApiKey: string;
  /** A page server the browser pods can reach. */
  site: SiteServer;
  getSession(name: string): Promise<BrowserSession>;
  waitPhase(name: string, phases: string[]): Promise<BrowserSession>;
  /** Adds a project in the stack's namespace with its own API key. */
  addProject(spec: Partial<BrowserProject['spec']>): Promise<{ project: string; apiKey: string }>;
  stop(): Promise<void>;
}

/**
 * Where browser pods run: on the suite's nodes (the local node agent, or a real cluster's nodes), or nowhere
 * (sessions stay Starting; for REST-only tests).
 */
export type PodRuntime = 'node' | 'none';

const NO_NODE = { 'browserfleet.dev/test': 'no-such-node' };

export async function startGatewayStack(opts: {
  prefix: string;
  pods: PodRuntime;
  project?: Partial<BrowserProject['spec']>;
  operator?: Partial<OperatorConfig>;
  gateway?: Partial<GatewayConfig>;
}): Promise<GatewayStack> {
  const stack = await startSessionStack({
    prefix: opts.prefix,
    project: { concurrency: 10, maxQueued: 10, ...opts.project },
    operator: { ...(opts.pods === 'node' ? {} : { nodeSelector: NO_NODE }), ...opts.operator },
  });
  const client = stack.client;

  async function setKey(project: string): Promise<string> {
    const apiKey = `bf_${randomBytes(18).toString('base64url')}`;
    const secret = `${project}-api-key`;
    await ensureApiKeySecret(client, stack.namespace, secret, apiKey);
    await client.mergePatch(paths.project(project), { spec: { apiKeySecrets: [{ name: secret }] } });
    return apiKey;
  }

  const projects: string[] = [];
  async function addProject(
    spec: Partial<BrowserProject['spec']>,
  ): Promise<{ project: string; apiKey: string }> {
    const project = uniqueName(`${opts.prefix}-p`);
    await ensureProject(client, project, {
      namespace: stack.namespace,
      concurrency: 10,
      maxQueued: 10,
      defaultTimeout: 300,
      ...spec,
    });
    projects.push(project);
    return { project, apiKey: await setKey(project) };
  }

  const apiKey = await setKey(stack.project);
  const other = await addProject({});

  const [port] = await freePorts(1, '127.0.0.1');
  const config: GatewayConfig = {
    ...defaultGatewayConfig,
    listen: `127.0.0.1:${port}`,
    metricsListen: '127.0.0.1:0',
    publicUrl: `http://127.0.0.1:${port}`,
    sessionKey: stack.sessionKey,
    watchNamespace: stack.namespace,
    ...opts.gateway,
  };
  validateGatewayConfig(config);
  const gateway = await startGateway(config, {
    kubeconfigPath: stack.kubeconfig,
    log: createLogger({ component: 'gateway', ns: stack.namespace }),
  });
  const site = await startSite(
    opts.pods === 'node'
      ? inject('podNetworkHostIP') || process.env['BF_TEST_SITE_HOST'] || '127.0.0.1'
      : '127.0.0.1',
  );

  const getSession = (name: string) => client.get<BrowserSession>(paths.session(stack.namespace, name));
  return {
    stack,
    pods: opts.pods,
    gateway,
    config,
    baseUrl: `http://127.0.0.1:${gateway.port}`,
    project: stack.project,
    apiKey,
    otherProject: other.project,
    otherApiKey: other.apiKey,
    site,
    getSession,
    waitPhase: (name, phases) =>
      waitFor(
        `session ${name} in ${phases.join('/')}`,
        async () => {
          const s = await getSession(name);
          return phases.includes(s.status?.phase ?? '') ? s : undefined;
        },
        90_000,
      ),
    addProject,
    async stop() {
      await gateway.stop();
      await site.close();
      await stack.stop();
      for (const p of projects) await client.delete(paths.project(p)).catch(() => undefined);
    },
  };
}
