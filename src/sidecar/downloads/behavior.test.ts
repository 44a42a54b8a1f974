import { describe, expect, it } from 'vitest';
import { sessionDownloadBehavior } from './behavior.js';

const DIR = '/var/run/browserfleet/downloads';

describe('sessionDownloadBehavior', () => {
  it("keeps Playwright's connect-time command from sending downloads to a folder on the client's machine", () => {
    // What Playwright sends for each context it knows of.
    const playwright = {
      behavior: 'allowAndName',
      browserContextId: 'CTX1',
      downloadPath: '/tmp/playwright-artifacts-AbC123',
      eventsEnabled: true,
    };
    expect(sessionDownloadBehavior(playwright, DIR)).toEqual({
      params: { behavior: 'allowAndName', browserContextId: 'CTX1', downloadPath: DIR, eventsEnabled: true },
      clientWantsEvents: true,
    });
  });

  it.each([
    [{ behavior: 'allow', downloadPath: 'downloads', eventsEnabled: true }, true],
    [{ behavior: 'allow', downloadPath: 'downloads' }, false],
    [{ behavior: 'default' }, false],
  ])('stores %j in the session, with events towards Chrome either way', (client, wants) => {
    expect(sessionDownloadBehavior(client, DIR)).toEqual({
      params: { behavior: 'allowAndName', downloadPath: DIR, eventsEnabled: true },
      clientWantsEvents: wants,
    });
  });

  it('keeps a deny (that context downloads nothing), for one context or all', () => {
    expect(sessionDownloadBehavior({ behavior: 'deny', browserContextId: 'CTX2' }, DIR)).toEqual({
      params: { behavior: 'deny', browserContextId: 'CTX2', eventsEnabled: true },
      clientWantsEvents: false,
    });
  });

  it.each([
    [null],
    ['allow'],
    [[]],
    [{}],
    [{ behavior: 'sometimes' }],
    [{ behavior: 'allow', browserContextId: 7 }],
  ])('leaves %j to Chrome, which answers it with its own error', (client) => {
    expect(sessionDownloadBehavior(client, DIR)).toBeUndefined();
  });
});
