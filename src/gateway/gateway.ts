import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { BrowserProject, BrowserSession } from '../api/index.js';
import { createS3ArtifactStore } from '../shared/artifacts/s3-store.js';
import type { ArtifactStore } from '../shared/artifacts/store.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { KubeClient, paths } from '../shared/kube/client.js';
import { Informer } from '../shared/kube/informer.js';
import { createLogger, type Logger } from '../shared/log.js';
import { ApiKeyDirectory } from './api-keys.js';
import { createGatewayApp } from './app.js';
import { createCdpProxy } from './cdp-proxy.js';
import type { GatewayConfig } from './config.js';
import { ApiError } from './errors.js';
import { Links } from './links.js';
import { createLiveView } from './live-view/live-view.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { SessionCache } from './session-cache.js';
import { SessionService } from './session-service.js';
import { refuseUpgrade } from './upgrade-response.js';
import { createWebDriverGateway } from './webdriver/webdriver-gateway.js';

export interface Gateway {
  /** Bound ports (port 0 in config picks a free one). */
  port: number;
  metricsPort: number;
  metrics: GatewayMetrics;
  sessions: SessionService;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  kubeconfigPath?: string | undefined;
  log?: Logger;
  clock?: Clock;
}

/**
 * Builds and starts a gateway: caches of sessions and projects, the API/CDP/live-view server and the
 * health/metrics server. Stateless beyond its caches: any number of replicas can run side by side.
 */
export async function startGateway(config: GatewayConfig, opts: GatewayOptions = {}): Promise<Gateway> {
  const log = opts.log ?? createLogger({ component: 'gateway' });
  const clock = opts.clock ?? systemClock;
  const client = await KubeClient.create(opts.kubeconfigPath);
  const metrics = createGatewayMetrics();
  const restart = (resource: string) => (err: unknown, delayMs: number) =>
    log.warn('watch restarting', { resource, delayMs, err });
  const sessionInformer = new Informer<BrowserSession>(
    client,
    paths.sessions(config.watchNamespace || undefined),
    { onRestart: restart('browsersessions') },
  );
  const projectInformer = new Informer<BrowserProject>(client, paths.projects(), {
    onRestart: restart('browserprojects'),
  });
  const cache = new SessionCache(sessionInformer, client);
  const keys = new ApiKeyDirectory(client, projectInformer, clock, log, {
    cacheMs: config.apiKeyCacheSeconds * 1000,
    namespace: config.watchNamespace,
  });
  const sessions = new SessionService(client, cache, clock, log, {
    createWaitMs: config.createWaitMs,
    releaseWaitMs: config.releaseWaitMs,
  });
  const links = new Links(config, clock);
  const liveView = createLiveView({
    sessionKey: config.sessionKey,
    cache,
    connectWaitMs: config.connectWaitMs,
    metrics,
    log,
    clock,
  });
  const cdp = createCdpProxy({
    sessionKey: config.sessionKey,
    keys,
    cache,
    sessions,
    connectWaitMs: config.connectWaitMs,
    upstreamPingMs: config.upstreamPingMs,
    metrics,
    log,
    clock,
  });
  const webdriver = createWebDriverGateway({
    sessionKey: config.sessionKey,
    keys,
    cache,
    sessions,
    links,
    connectWaitMs: config.connectWaitMs,
    metrics,
    log,
    clock,
  });
  const artifacts = config.artifacts.enabled ? createS3ArtifactStore(config.artifacts.s3) : undefined;
  const app = createGatewayApp({
    config,
    keys,
    sessions,
    cache,
    links,
    metrics,
    log,
    clock,
    liveView,
    webdriver,
    artifacts,
  });

  const server = http.createServer(app);
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // The URL and headers carry connect tokens and API keys: the logger redacts them.
    log.debug('websocket upgrade', { url: req.url, headers: req.headers });
    const url = requestUrl(req.url);
    if (!url) {
      // `//?...` and the like: a request target no URL can be made of. Thrown here, it would end the process.
      socket.on('error', () => {});
      refuseUpgrade(socket, new ApiError('INVALID_REQUEST', 'path: not a valid request target'));
    } else if (url.pathname.startsWith('/live/')) liveView.handleUpgrade(req, socket, head, url);
    else if (url.pathname.startsWith('/webdriver/')) webdriver.handleUpgrade(req, socket, head, url);
    else if (url.pathname.startsWith('/v1/') || url.pathname.startsWith('/api/')) {
      socket.on('error', () => {});
      refuseUpgrade(socket, new ApiError('NOT_FOUND', `no websocket endpoint at ${url.pathname}`));
    } else cdp.handleUpgrade(req, socket, head, url);
  });

  const synced = () => sessionInformer.synced && projectInformer.synced;
  const health = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (path === '/readyz')
      return void res
        .writeHead(synced() ? 200 : 503, { 'content-type': 'text/plain' })
        .end(synced() ? 'ok' : 'caches not synced');
    if (path === '/metrics') {
      void metrics.registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body));
      return;
    }
    res.writeHead(404).end();
  });

  await Promise.all([
    sessionInformer.start(),
    projectInformer.start(),
    checkArtifactStore(artifacts, config, log),
  ]);
  const port = await listen(server, config.listen);
  const metricsPort = await listen(health, config.metricsListen);
  log.info('gateway listening', { port, metricsPort, publicUrl: config.publicUrl });

  return {
    port,
    metricsPort,
    metrics,
    sessions,
    async stop() {
      const closed = Promise.all([new Promise((r) => server.close(r)), new Promise((r) => health.close(r))]);
      server.closeIdleConnections();
      webdriver.close();
      await Promise.all([cdp.close(), liveView.close()]);
      server.closeAllConnections();
      health.closeAllConnections();
      await closed;
      await Promise.all([sessionInformer.stop(), projectInformer.stop()]);
      artifacts?.close();
      client.close();
    },
  };
}

/**
 * Says at start whether the artifact store answers (what the chart's NOTES tell an installer to look for). A
 * store that does not answer is logged, not fatal: sessions work without it, and its endpoints answer 503.
 */
async function checkArtifactStore(
  store: ArtifactStore | undefined,
  config: GatewayConfig,
  log: Logger,
): Promise<void> {
  if (!store) return log.info('artifact store off', {});
  const where = { bucket: config.artifacts.s3.bucket, endpoint: config.artifacts.s3.endpoint || '(AWS S3)' };
  try {
    await store.check();
    log.info('artifact store checked', where);
  } catch (err) {
    log.warn('artifact store check failed', { ...where, err });
  }
}

/** The request target as a URL, or undefined when none can be made of it (Node 20 has no URL.parse). */
function requestUrl(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://gateway.invalid');
  } catch {
    return undefined;
  }
}

function listen(server: http.Server, hostPort: string): Promise<number> {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i) || '0.0.0.0';
  const port = Number(hostPort.slice(i + 1));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}
