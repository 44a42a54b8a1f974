import { type Request, type Response, Router } from 'express';
import type { Clock } from '../../shared/clock.js';
import { publicBases } from '../config.js';
import {
  type ConnectAuthDeps,
  callBrowser,
  readCredential,
  resolveConnect,
  waitForRunning,
} from '../connect-auth.js';
import { ApiError } from '../errors.js';
import type { Links } from '../links.js';
import { podEndpoint, podJson } from '../pod-client.js';

export interface DevtoolsDeps extends ConnectAuthDeps {
  clock: Clock;
  links: Links;
  publicUrl: string;
  connectWaitMs: number;
}

/**
 * DevTools discovery for clients given an http URL (Playwright's connectOverCDP and Puppeteer's browserURL ask
 * `GET <url>/json/version` first). The browser's answer comes from the sidecar with its URLs rewritten to the
 * gateway, carrying the session's connect token (never the API key) and keepAlive when the client asked.
 */
export function devtoolsRoutes(deps: DevtoolsDeps): Router {
  const r = Router();
  const ws = publicBases({ publicUrl: deps.publicUrl }).ws;

  const answer = (kind: 'version' | 'list') => async (req: Request, res: Response) => {
    const url = new URL(req.originalUrl, 'http://gateway.invalid');
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    const target = await resolveConnect(readCredential(url, req.headers), deps);
    const session = await waitForRunning(
      target.session,
      deps.cache,
      deps.clock,
      deps.connectWaitMs,
      abort.signal,
    );
    const query = new URLSearchParams({ token: deps.links.token(session) });
    if (url.searchParams.get('keepAlive') === 'true') query.set('keepAlive', 'true');
    const pod = podEndpoint(deps.sessionKey, session);
    const browser = <T>(path: string) =>
      callBrowser(session, deps.cache, deps.clock, () => podJson<T>(pod, path));
    if (kind === 'version') {
      const version = await browser<Record<string, unknown>>('/json/version');
      res.status(200).json({ ...version, webSocketDebuggerUrl: `${ws}/devtools/browser?${query}` });
      return;
    }
    const targets = await browser<unknown>('/json/list');
    if (!Array.isArray(targets))
      throw new ApiError(
        'BROWSER_UNAVAILABLE',
        'the browser answered /json/list with something else than a list',
      );
    res.status(200).json(
      targets.map((t: Record<string, unknown>) => {
        // The DevTools frontend URL points into Chrome's own UI, which the gateway does not serve.
        const { devtoolsFrontendUrl: _frontend, ...rest } = t;
        return typeof t['id'] === 'string' && typeof t['webSocketDebuggerUrl'] === 'string'
          ? { ...rest, webSocketDebuggerUrl: `${ws}/devtools/page/${encodeURIComponent(t['id'])}?${query}` }
          : rest;
      }),
    );
  };

  r.get(['/json/version', '/json/version/'], answer('version'));
  r.get(['/json', '/json/', '/json/list', '/json/list/'], answer('list'));
  return r;
}
