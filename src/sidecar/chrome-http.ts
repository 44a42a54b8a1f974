import http from 'node:http';

/**
 * Chrome's DevTools HTTP server refuses any Host that is not an IP address or `localhost` (DNS-rebinding
 * protection), so every request the sidecar makes or forwards names Chrome by its own address.
 */
export function chromeHostHeader(chromeUrl: URL): string {
  return chromeUrl.host;
}

export interface ChromeRequest {
  method: string;
  /** Path plus query, as Chrome should see it. */
  target: string;
  timeoutMs: number;
}

/** Opens a request to Chrome; the caller owns the response stream. */
export function requestChrome(chromeUrl: URL, req: ChromeRequest): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      {
        host: chromeUrl.hostname,
        port: chromeUrl.port || 80,
        method: req.method,
        path: req.target,
        headers: { host: chromeHostHeader(chromeUrl) },
        timeout: req.timeoutMs,
        agent: false,
      },
      resolve,
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`Chrome did not answer ${req.target} in time`)));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

export async function readBody(res: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** GET a JSON document from Chrome; throws on a non-2xx answer or unparsable body. */
export async function getChromeJson(chromeUrl: URL, path: string, timeoutMs = 5000): Promise<unknown> {
  const res = await requestChrome(chromeUrl, { method: 'GET', target: path, timeoutMs });
  const body = await readBody(res);
  if (!res.statusCode || res.statusCode < 200 || res.statusCode >= 300) {
    throw new Error(`Chrome answered ${path} with HTTP ${res.statusCode}`);
  }
  return JSON.parse(body.toString('utf8'));
}

/**
 * The browser target's path (`/devtools/browser/<id>`). Asked for every time rather than cached: the id
 * changes whenever the Chrome container restarts, and the lookup is one loopback round trip.
 */
export async function browserEndpointPath(chromeUrl: URL): Promise<string> {
  const version = (await getChromeJson(chromeUrl, '/json/version')) as { webSocketDebuggerUrl?: unknown };
  if (typeof version.webSocketDebuggerUrl !== 'string') {
    throw new Error('Chrome /json/version has no webSocketDebuggerUrl');
  }
  return new URL(version.webSocketDebuggerUrl).pathname;
}

/** Chrome's websocket address for a DevTools path. */
export function chromeWebSocketUrl(chromeUrl: URL, path: string): string {
  return `ws://${chromeUrl.host}${path}`;
}
