import { describe, expect, it } from 'vitest';
import { redactToken } from './auth.js';
import { rewriteDevtoolsUrls } from './devtools-urls.js';

const client = { host: 'browser-s1.team-a.svc:9223', query: new URLSearchParams({ token: 'a+b/c=' }) };

describe('rewriteDevtoolsUrls', () => {
  it('points /json/version at the client-facing address with the token attached', () => {
    const version = {
      Browser: 'Chrome/156.0.8078.79',
      webSocketDebuggerUrl: 'ws://127.0.0.1:9222/devtools/browser/3bc06052-9a12-4240-b834-ca9dbc96f0f5',
    };
    expect(rewriteDevtoolsUrls(version, client)).toEqual({
      Browser: 'Chrome/156.0.8078.79',
      webSocketDebuggerUrl:
        'ws://browser-s1.team-a.svc:9223/devtools/browser/3bc06052-9a12-4240-b834-ca9dbc96f0f5?token=a%2Bb%2Fc%3D',
    });
  });

  it('rewrites every target of /json/list, including the frontend ws= parameter', () => {
    const list = [
      {
        id: 'A1',
        type: 'page',
        devtoolsFrontendUrl:
          'https://chrome-devtools-frontend.appspot.com/serve_rev/@a21c/inspector.html?ws=127.0.0.1:9222/devtools/page/A1',
        webSocketDebuggerUrl: 'ws://127.0.0.1:9222/devtools/page/A1',
      },
      { id: 'B2', type: 'browser_ui', webSocketDebuggerUrl: 'ws://127.0.0.1:9222/devtools/page/B2' },
    ];
    const [page, ui] = rewriteDevtoolsUrls(list, client) as Array<Record<string, string>>;
    expect(page?.['webSocketDebuggerUrl']).toBe(
      'ws://browser-s1.team-a.svc:9223/devtools/page/A1?token=a%2Bb%2Fc%3D',
    );
    const frontend = new URL(page?.['devtoolsFrontendUrl'] ?? '');
    expect(frontend.host).toBe('chrome-devtools-frontend.appspot.com');
    // The frontend prefixes ws:// to this value and connects; decoded it must be a working address.
    expect(frontend.searchParams.get('ws')).toBe(
      'browser-s1.team-a.svc:9223/devtools/page/A1?token=a%2Bb%2Fc%3D',
    );
    expect(ui?.['webSocketDebuggerUrl']).toBe(
      'ws://browser-s1.team-a.svc:9223/devtools/page/B2?token=a%2Bb%2Fc%3D',
    );
    expect(page?.['id']).toBe('A1');
  });

  it('keeps a relative frontend URL relative', () => {
    const out = rewriteDevtoolsUrls(
      { devtoolsFrontendUrl: '/devtools/inspector.html?ws=127.0.0.1:9222/devtools/page/A1' },
      client,
    ) as Record<string, string>;
    expect(out['devtoolsFrontendUrl']).toMatch(
      /^\/devtools\/inspector\.html\?ws=browser-s1\.team-a\.svc%3A9223/,
    );
  });

  it('carries keepAlive=true along', () => {
    const withKeepAlive = {
      host: '10.0.0.7:9223',
      query: new URLSearchParams({ token: 't', keepAlive: 'true' }),
    };
    expect(
      rewriteDevtoolsUrls({ webSocketDebuggerUrl: 'ws://127.0.0.1:9222/devtools/browser/x' }, withKeepAlive),
    ).toEqual({ webSocketDebuggerUrl: 'ws://10.0.0.7:9223/devtools/browser/x?token=t&keepAlive=true' });
  });
});

describe('redactToken', () => {
  it.each([
    ['/devtools/browser?token=secret', '/devtools/browser?token=REDACTED'],
    [
      '/devtools/page/A?keepAlive=true&token=secret&x=1',
      '/devtools/page/A?keepAlive=true&token=REDACTED&x=1',
    ],
    ['/json/version', '/json/version'],
  ])('%s', (input, expected) => {
    expect(redactToken(input)).toBe(expected);
  });
});
