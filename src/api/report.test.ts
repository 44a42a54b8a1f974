import { describe, expect, it } from 'vitest';
import { parseConnectionReport, ReportFormatError } from './report.js';

const report = {
  namespace: 'team',
  name: 's1',
  uid: 'u1',
  bootId: 'b1',
  seq: 3,
  connections: 1,
  webdriverConnections: 1,
  pages: 2,
  keepAliveRequested: true,
  chromeReachable: true,
  lastConnectedAt: '2026-12-01T10:00:00Z',
  artifactsGeneration: 2,
};

describe('parseConnectionReport', () => {
  it('takes a complete report and normalizes its times', () => {
    expect(parseConnectionReport(report)).toEqual({ ...report, lastConnectedAt: '2026-12-01T10:00:00.000Z' });
  });

  it('fills what older sidecars leave out and drops fields it does not know', () => {
    const {
      keepAliveRequested: _k,
      chromeReachable: _c,
      lastConnectedAt: _l,
      artifactsGeneration: _a,
      webdriverConnections: _w,
      ...minimal
    } = report;
    expect(parseConnectionReport({ ...minimal, lastDisconnectedAt: null, futureField: 1 })).toEqual({
      ...minimal,
      keepAliveRequested: false,
      chromeReachable: true,
      artifactsGeneration: 0,
      webdriverConnections: 0,
    });
  });

  it.each([
    [{ ...report, seq: -1 }, 'seq: must be a non-negative integer'],
    [{ ...report, pages: '2' }, 'pages: Invalid input: expected number, received string'],
    [{ ...report, uid: '' }, 'uid: must be a non-empty string'],
    [{ ...report, lastConnectedAt: 'yesterday' }, 'lastConnectedAt: must be an RFC 3339 time'],
    [
      { ...report, keepAliveRequested: 'yes' },
      'keepAliveRequested: Invalid input: expected boolean, received string',
    ],
    [[], 'body: Invalid input: expected object, received array'],
  ])('refuses %j, naming the field', (body, message) => {
    expect(() => parseConnectionReport(body)).toThrow(new ReportFormatError(message));
  });
});
