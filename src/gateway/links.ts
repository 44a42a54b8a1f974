import type { BrowserSession } from '../api/index.js';
import type { Clock } from '../shared/clock.js';
import type { BrowserbaseLinks } from './compat/browserbase.js';
import type { HyperbrowserLinks } from './compat/hyperbrowser.js';
import { type GatewayConfig, publicBases } from './config.js';
import { connectToken, expiringToken, liveToken } from './tokens.js';

/** How long a downloads link stays valid: an hour, like the live view's default. */
export const DOWNLOADS_LINK_TTL_SECONDS = 3600;

/**
 * Every URL the gateway hands out, built from its public URL. CDP URLs carry the session's connect token in
 * the query, because Playwright and Puppeteer send no auth header on a CDP connect; the Hyperbrowser form
 * ends in a query so that clients can append `&keepAlive=true`.
 */
export class Links {
  private readonly http: string;
  private readonly ws: string;

  constructor(
    private readonly config: Pick<GatewayConfig, 'publicUrl' | 'sessionKey' | 'liveViewTtlSeconds'>,
    private readonly clock: Clock,
  ) {
    const bases = publicBases(config);
    this.http = bases.http;
    this.ws = bases.ws;
  }

  token(s: BrowserSession): string {
    return connectToken(this.config.sessionKey, s);
  }

  browserbase(s: BrowserSession): BrowserbaseLinks {
    const token = this.token(s);
    return {
      connectUrl: `${this.ws}/?signingKey=${token}`,
      seleniumRemoteUrl: this.webdriver(),
      signingKey: token,
    };
  }

  hyperbrowser(s: BrowserSession, liveViewTtlSeconds?: number): HyperbrowserLinks {
    const token = this.token(s);
    return {
      wsEndpoint: `${this.ws}/?token=${token}`,
      token,
      liveUrl: this.live(s, { ttlSeconds: liveViewTtlSeconds }),
      webdriverEndpoint: this.webdriver(),
    };
  }

  /**
   * Selenium's remote URL: one for every session, since Selenium clients rewrite paths and drop queries; the
   * session is told by the header its client sends (ADR 0014).
   */
  webdriver(): string {
    return `${this.http}/webdriver`;
  }

  /** The BiDi websocket of a WebDriver session (`webSocketUrl: true`): clients connect to it as is, no header. */
  webdriverBidi(s: BrowserSession, webdriverSessionId: string): string {
    return `${this.ws}/webdriver/session/${encodeURIComponent(webdriverSessionId)}?token=${this.token(s)}`;
  }

  /** The browser-level CDP websocket, for clients that take a DevTools URL as is. */
  cdp(s: BrowserSession): string {
    return `${this.ws}/devtools/browser?token=${this.token(s)}`;
  }

  /** A live-view page for the session's active page (or one page), valid for `ttlSeconds`. */
  live(
    s: BrowserSession,
    o: { pageId?: string | undefined; fullscreen?: boolean; ttlSeconds?: number | undefined } = {},
  ): string {
    const expires = Math.floor(this.clock.now() / 1000) + (o.ttlSeconds ?? this.config.liveViewTtlSeconds);
    const query = new URLSearchParams({ token: liveToken(this.config.sessionKey, s, expires) });
    if (o.pageId) query.set('page', o.pageId);
    if (o.fullscreen) query.set('fullscreen', 'true');
    return `${this.http}/live/${encodeURIComponent(s.metadata.name ?? '')}?${query}`;
  }

  /**
   * Hyperbrowser's `downloadsUrl`: the session's downloads zip, by a link that needs no API key (the SDK's users
   * fetch it as a plain URL) and opens nothing else, valid for `ttlSeconds`.
   */
  downloads(s: BrowserSession, ttlSeconds = DOWNLOADS_LINK_TTL_SECONDS): string {
    const expires = Math.floor(this.clock.now() / 1000) + ttlSeconds;
    const token = expiringToken(this.config.sessionKey, 'downloads', s, expires);
    return `${this.http}/artifacts/${encodeURIComponent(s.metadata.name ?? '')}/downloads.zip?token=${token}`;
  }

  /** Hyperbrowser's `sessionUrl`: where the session's record lives (this API, with the caller's key). */
  sessionRecord(s: BrowserSession): string {
    return `${this.http}/api/session/${encodeURIComponent(s.metadata.name ?? '')}`;
  }
}
