import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../shared/clock.js';
import { CdpLog, DROPPED_MARKER_METHOD } from './recorder.js';

const TOKEN = 'sess-token-0123456789abcdef';
const send = (o: unknown) => Buffer.from(JSON.stringify(o));

function setup(limits = { maxBytes: 1024 * 1024, maxBodyBytes: 4096 }) {
  const clock = new FakeClock(Date.parse('2026-12-02T00:00:00Z'));
  const log = new CdpLog(clock, [TOKEN], limits);
  const tap = log.connection();
  const client = (o: unknown) => tap.observe('client_to_upstream', send(o), false);
  const chrome = (o: unknown) => tap.observe('upstream_to_client', send(o), false);
  return { clock, log, tap, client, chrome };
}

describe('CdpLog', () => {
  it('pairs each command with its answer, in Browserbase’s shape, with the frame and loader of a navigation', () => {
    const { clock, log, client, chrome } = setup();
    const t0 = clock.now();
    chrome({
      method: 'Target.attachedToTarget',
      params: { sessionId: 'S1', targetInfo: { targetId: 'T1', type: 'page' }, waitingForDebugger: false },
    });
    client({ id: 1, method: 'Browser.getVersion' });
    client({ id: 2, method: 'Page.navigate', params: { url: 'http://site.test/a' }, sessionId: 'S1' });
    clock.advance(15);
    chrome({ id: 1, result: { product: 'Chrome/1' } });
    chrome({ id: 2, result: { frameId: 'F1', loaderId: 'L1' }, sessionId: 'S1' });
    chrome({ method: 'Page.frameNavigated', params: { frame: { id: 'F1' } }, sessionId: 'S1' });
    const { entries, dropped } = log.list();
    expect(dropped).toBe(0);
    expect(entries).toEqual([
      {
        method: 'Browser.getVersion',
        pageId: 0,
        sessionId: '',
        timestamp: t0,
        request: { params: {}, rawBody: '{"id":1,"method":"Browser.getVersion"}', timestamp: t0 },
        response: {
          result: { product: 'Chrome/1' },
          rawBody: '{"id":1,"result":{"product":"Chrome/1"}}',
          timestamp: t0 + 15,
        },
      },
      {
        method: 'Page.navigate',
        pageId: 1,
        sessionId: 'S1',
        frameId: 'F1',
        loaderId: 'L1',
        timestamp: t0,
        request: {
          params: { url: 'http://site.test/a' },
          rawBody: JSON.stringify({
            id: 2,
            method: 'Page.navigate',
            params: { url: 'http://site.test/a' },
            sessionId: 'S1',
          }),
          timestamp: t0,
        },
        response: {
          result: { frameId: 'F1', loaderId: 'L1' },
          rawBody: JSON.stringify({ id: 2, result: { frameId: 'F1', loaderId: 'L1' }, sessionId: 'S1' }),
          timestamp: t0 + 15,
        },
      },
    ]);
  });

  it('numbers pages in the order their targets attached, also through Target.attachToTarget', () => {
    const { log, client, chrome } = setup();
    client({ id: 1, method: 'Target.attachToTarget', params: { targetId: 'T9', flatten: true } });
    chrome({ id: 1, result: { sessionId: 'S9' } });
    chrome({
      method: 'Target.attachedToTarget',
      params: { sessionId: 'S2', targetInfo: { targetId: 'T2' } },
    });
    client({ id: 2, method: 'Runtime.evaluate', params: { expression: '1' }, sessionId: 'S9' });
    client({ id: 3, method: 'Runtime.evaluate', params: { expression: '2' }, sessionId: 'S2' });
    client({ id: 4, method: 'Runtime.evaluate', params: { expression: '3' }, sessionId: 'unknown' });
    expect(log.list().entries.map((e) => [e.method, e.sessionId, e.pageId])).toEqual([
      ['Target.attachToTarget', '', 0],
      ['Runtime.evaluate', 'S9', 1],
      ['Runtime.evaluate', 'S2', 2],
      ['Runtime.evaluate', 'unknown', 0],
    ]);
  });

  it('never keeps our credentials: the session token anywhere, and token-like query parameters of URLs', () => {
    const { log, client, chrome } = setup();
    client({ id: 1, method: 'Page.navigate', params: { url: `http://gw.test/live?token=${TOKEN}&x=1` } });
    client({
      id: 2,
      method: 'Runtime.evaluate',
      params: { expression: `fetch("/a?signingKey=abc.def&y=2")` },
    });
    chrome({ id: 2, result: { result: { type: 'string', value: `said ${TOKEN}` } } });
    const text = JSON.stringify(log.list());
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('abc.def');
    expect(text).toContain('token=[REDACTED]&x=1');
    expect(text).toContain('signingKey=[REDACTED]&y=2');
    expect(log.list().entries[1]?.response?.result).toEqual({
      result: { type: 'string', value: 'said [REDACTED]' },
    });
  });

  it('keeps the newest entries within its size, with a marker saying how many went', () => {
    const { log, client, chrome } = setup({ maxBytes: 3000, maxBodyBytes: 4096 });
    for (let i = 1; i <= 40; i++) {
      client({ id: i, method: 'Runtime.evaluate', params: { expression: `${i}`.padEnd(100, ' ') } });
      chrome({ id: i, result: { result: { value: i } } });
    }
    const { entries, dropped, bytes } = log.list();
    expect(bytes).toBeLessThanOrEqual(3000);
    expect(entries[0]?.method).toBe(DROPPED_MARKER_METHOD);
    expect(entries[0]?.request.params['dropped']).toBe(dropped);
    expect(dropped + entries.length - 1).toBe(40);
    // The newest kept, oldest first, each with its answer.
    expect(entries.at(-1)?.response?.result).toEqual({ result: { value: 40 } });
    const ids = entries.slice(1).map((e) => JSON.parse(e.request.rawBody).id as number);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, k) => 41 - ids.length + k));
  });

  it('keeps a long message as its head and a marker, and still pairs it by the id and session at its ends', () => {
    const { log, client, chrome } = setup({ maxBytes: 1024 * 1024, maxBodyBytes: 1000 });
    client({ id: 7, method: 'Page.captureScreenshot', params: {}, sessionId: 'S1' });
    const big = JSON.stringify({ id: 7, result: { data: 'A'.repeat(50_000) }, sessionId: 'S1' });
    chrome(JSON.parse(big));
    client({ id: 8, method: 'Runtime.evaluate', params: { expression: 'x'.repeat(5000) }, sessionId: 'S1' });
    const [shot, evaluate] = log.list().entries;
    expect(shot?.response?.result).toEqual({ truncated: true, bytes: big.length });
    expect(shot?.response?.rawBody).toMatch(/^\{"id":7,"result":\{"data":"A+…\[truncated: \d+ bytes\]$/);
    expect(shot?.response?.rawBody.length).toBeLessThan(1100);
    expect(evaluate).toMatchObject({
      method: 'Runtime.evaluate',
      sessionId: 'S1',
      request: { params: { truncated: true } },
    });
  });

  it('ignores binary frames, events and answers to commands it never saw; two connections keep their ids apart', () => {
    const { log, tap, chrome } = setup();
    const other = log.connection();
    tap.observe('client_to_upstream', Buffer.from([1, 2, 3]), true);
    chrome({ id: 99, result: {} });
    chrome({ method: 'Network.requestWillBeSent', params: {} });
    tap.observe('client_to_upstream', send({ id: 1, method: 'A.one' }), false);
    other.observe('client_to_upstream', send({ id: 1, method: 'B.one' }), false);
    other.observe('upstream_to_client', send({ id: 1, result: { from: 'B' } }), false);
    other.close();
    const entries = log.list().entries;
    expect(entries.map((e) => [e.method, e.response?.result ?? null])).toEqual([
      ['A.one', null],
      ['B.one', { from: 'B' }],
    ]);
  });
});
