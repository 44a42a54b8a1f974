import { describe, expect, it } from 'vitest';
import { classifyError, KubeApiError } from './client.js';

const apiError = (code: number, reason = '', message = 'm', retryAfterSeconds?: number) =>
  new KubeApiError(
    code,
    reason,
    `POST /x: ${code} ${message}`,
    { kind: 'Status', reason, message },
    retryAfterSeconds,
  );

describe('classifyError', () => {
  it.each([
    [404, 'NotFound', 'notFound'],
    [409, 'Conflict', 'conflict'],
    [409, 'AlreadyExists', 'conflict'],
    [410, 'Expired', 'conflict'],
    [400, 'BadRequest', 'refused'],
    [403, 'Forbidden', 'refused'],
    [405, 'MethodNotAllowed', 'refused'],
    [413, 'RequestEntityTooLarge', 'refused'],
    [422, 'Invalid', 'refused'],
    [429, 'TooManyRequests', 'throttled'],
    [401, 'Unauthorized', 'unavailable'],
    [408, 'Timeout', 'unavailable'],
    [500, 'InternalError', 'unavailable'],
    [503, 'ServiceUnavailable', 'unavailable'],
    [504, 'Timeout', 'unavailable'],
    [0, '', 'unavailable'],
  ])('HTTP %i %s is %s', (code, reason, kind) => {
    expect(classifyError(apiError(code, reason)).kind).toBe(kind);
  });

  it.each([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['a reset socket', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['a timed-out request', new Error('GET /api/v1/pods: timed out')],
    ['a non-error value', 'boom'],
  ])('%s is unavailable (back off)', (_name, err) => {
    expect(classifyError(err)).toEqual({ kind: 'unavailable' });
  });

  it("keeps the API server's own message, code and reason for a refusal", () => {
    const msg =
      'pods "browser-s1" is forbidden: exceeded quota: no-pods, requested: pods=1, used: pods=0, limited: pods=0';
    expect(classifyError(apiError(403, 'Forbidden', msg))).toEqual({
      kind: 'refused',
      code: 403,
      reason: 'Forbidden',
      message: msg,
    });
  });

  it('carries Retry-After of a 429 in milliseconds, and leaves it out when the server gave none', () => {
    expect(classifyError(apiError(429, 'TooManyRequests', 'slow down', 3))).toEqual({
      kind: 'throttled',
      retryAfterMs: 3000,
    });
    expect(classifyError(apiError(429, 'TooManyRequests'))).toEqual({ kind: 'throttled' });
  });
});
