/**
 * Chrome builds the URLs in its /json answers from the Host it was asked under (here 127.0.0.1:9222, which a
 * client outside the pod cannot reach). These rewrite them to the address the client used, with the client's
 * credential attached, so that every URL the sidecar hands out works as is.
 */
export interface ClientEndpoint {
  /** host[:port] as the client addressed the sidecar. */
  host: string;
  /** Query parameters a follow-up connection must carry (token, keepAlive). */
  query: URLSearchParams;
}

function withQuery(pathname: string, query: URLSearchParams): string {
  const q = query.toString();
  return q ? `${pathname}?${q}` : pathname;
}

export function rewriteWebSocketUrl(value: string, client: ClientEndpoint): string {
  const chrome = new URL(value);
  return `ws://${client.host}${withQuery(chrome.pathname, client.query)}`;
}

/** The DevTools frontend takes its target as `ws=<host:port/path>` (no scheme) in its own query string. */
export function rewriteFrontendUrl(value: string, client: ClientEndpoint): string {
  const isAbsolute = /^[a-z][a-z0-9+.-]*:/i.test(value);
  const url = new URL(value, 'http://relative.invalid');
  for (const param of ['ws', 'wss']) {
    const target = url.searchParams.get(param);
    if (target === null) continue;
    const slash = target.indexOf('/');
    const path = slash === -1 ? '/' : target.slice(slash).split('?')[0];
    url.searchParams.set(param, `${client.host}${withQuery(path ?? '/', client.query)}`);
  }
  return isAbsolute ? url.toString() : `${url.pathname}${url.search}${url.hash}`;
}

/** Walks a parsed /json answer (an object or a list of them) and rewrites every debugger URL in it. */
export function rewriteDevtoolsUrls(body: unknown, client: ClientEndpoint): unknown {
  if (Array.isArray(body)) return body.map((item) => rewriteDevtoolsUrls(item, client));
  if (body === null || typeof body !== 'object') return body;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'webSocketDebuggerUrl' && typeof value === 'string') {
      out[key] = rewriteWebSocketUrl(value, client);
    } else if (key === 'devtoolsFrontendUrl' && typeof value === 'string') {
      out[key] = rewriteFrontendUrl(value, client);
    } else {
      out[key] = rewriteDevtoolsUrls(value, client);
    }
  }
  return out;
}
