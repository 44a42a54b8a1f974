import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../shared/clock.js';
import { CdpLog } from './cdp-log/recorder.js';
import { type CdpProxy, chromeAnswers, createCdpProxy } from './cdp-proxy.js';
import type { SidecarConfig } from './config.js';
import { ConnectionState } from './connection-state.js';
import { DownloadCapture } from './downloads/capture.js';
import { createSidecarMetrics, type SidecarMetrics } from './metrics.js';
import { PageWatcher } from './page-watcher.js';
import { Reporter } from './reporter.js';
import { WebDriverProxy } from './webdriver/webdriver-proxy.js';

export interface Sidecar {
  state: ConnectionState;
  metrics: SidecarMetrics;
  /** Undefined when BF_REPORT_URL is empty. */
  reporter: Reporter | undefined;
  capture: DownloadCapture;
  /** Undefined when the session's CDP log is off. */
  cdpLog: CdpLog | undefined;
  webdriver: WebDriverProxy;
  /** Binds both ports (0 = any) and starts watching Chrome; resolves with the bound ports. */
  listen(): Promise<{ port: number; metricsPort: number }>;
  /** Closes listeners and client sockets, then sends the final report. */
  close(): Promise<void>;
}

function listenOn(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function createMetricsServer(config: SidecarConfig, metrics: SidecarMetrics): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
    } else if (path === '/healthz') {
      void chromeAnswers(config.chromeUrl).then((up) =>
        res
          .writeHead(up ? 200 : 503, { 'content-type': 'text/plain' })
          .end(up ? 'ok\n' : 'chrome unreachable\n'),
      );
    } else {
      res.writeHead(404).end();
    }
  });
}

export function createSidecar(config: SidecarConfig): Sidecar {
  const state = new ConnectionState();
  const metrics = createSidecarMetrics();
  state.onChange(() => {
    const facts = state.snapshot();
    metrics.setPages(facts.pages);
    metrics.setChromeReachable(facts.chromeReachable);
  });
  const watcher = new PageWatcher(config.chromeUrl, state);
  const metricsServer = createMetricsServer(config, metrics);
  const capture = new DownloadCapture(
    config.chromeUrl,
    config.downloadDir,
    systemClock,
    config.downloadCapBytes,
  );
  capture.onChange(() => state.setArtifactsGeneration(capture.manifest().generation));
  const cdpLog = config.cdpLog ? new CdpLog(systemClock, [config.sessionToken]) : undefined;
  const webdriver = new WebDriverProxy({
    webdriverUrl: config.webdriverUrl,
    debuggerAddress: config.chromeUrl.host,
    state,
    clock: systemClock,
    idleMs: config.webdriverIdleMs,
  });
  let proxy: CdpProxy | undefined;
  let reporter: Reporter | undefined;

  return {
    state,
    metrics,
    capture,
    cdpLog,
    webdriver,
    get reporter() {
      return reporter;
    },
    async listen() {
      await capture.start();
      proxy = createCdpProxy({
        chromeUrl: config.chromeUrl,
        sessionToken: config.sessionToken,
        state,
        metrics,
        clientPingIntervalMs: config.clientPingIntervalMs,
        capture,
        cdpLog,
        uploadDir: config.uploadDir,
        webdriver,
      });
      const port = await listenOn(proxy.server, config.listenPort, config.host);
      const metricsPort = await listenOn(metricsServer, config.metricsPort, config.host);
      watcher.start();
      if (config.reportUrl) {
        reporter = new Reporter({
          url: config.reportUrl,
          sessionToken: config.sessionToken,
          session: config.session,
          state,
          intervalMs: config.reportIntervalMs,
          onAttempt: metrics.reportAttempted,
          onFailure: metrics.reportFailed,
        });
      }
      return { port, metricsPort };
    },
    async close() {
      webdriver.close();
      await proxy?.close();
      await watcher.stop();
      await capture.stop();
      await new Promise<void>((resolve) => {
        metricsServer.close(() => resolve());
        metricsServer.closeAllConnections();
      });
      await reporter?.close();
    },
  };
}
