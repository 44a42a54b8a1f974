import { describe, expect, it } from 'vitest';
import { type ChildState, childState, Expectations, type Observed } from './expectations.js';

const seen = (
  sessionVersion: string,
  pod: ChildState = 'absent',
  service: ChildState = 'absent',
): Observed => ({
  sessionVersion,
  pod,
  service,
});

describe('Expectations', () => {
  it('expects nothing of a session it never wrote for', () => {
    const x = new Expectations(10_000);
    expect(x.pending('ns/a', seen('1'), 0)).toEqual({
      staleSession: false,
      created: new Set(),
      deleted: new Set(),
    });
  });

  it('a status write makes the cache stale until it shows another version of the session', () => {
    const x = new Expectations(10_000);
    x.wrote('ns/a', { statusFrom: '5' }, 0);
    expect(x.pending('ns/a', seen('5'), 100).staleSession).toBe(true);
    expect(x.pending('ns/a', seen('6'), 200).staleSession).toBe(false);
    // Satisfied once is satisfied for good: the same version again (a relist) is not stale.
    expect(x.pending('ns/a', seen('5'), 300).staleSession).toBe(false);
    expect(x.size).toBe(0);
  });

  it('two status writes in one pass: the cache is stale while it shows either version written over', () => {
    const x = new Expectations(10_000);
    x.wrote('ns/a', { statusFrom: '5' }, 0);
    x.wrote('ns/a', { statusFrom: '6' }, 0);
    expect(x.pending('ns/a', seen('5'), 100).staleSession).toBe(true);
    expect(x.pending('ns/a', seen('6'), 200).staleSession).toBe(true);
    expect(x.pending('ns/a', seen('7'), 300).staleSession).toBe(false);
    expect(x.pending('ns/a', seen('6'), 400).staleSession).toBe(false);
  });

  it('creates are expected until the child shows, deletes until it is gone or going', () => {
    const x = new Expectations(10_000);
    x.wrote('ns/a', { created: ['Pod', 'Service'] }, 0);
    expect([...x.pending('ns/a', seen('1', 'absent', 'present'), 10).created]).toEqual(['Pod']);
    expect([...x.pending('ns/a', seen('1', 'present', 'present'), 20).created]).toEqual([]);
    x.wrote('ns/a', { deleted: ['Pod', 'Service'] }, 30);
    expect([...x.pending('ns/a', seen('2', 'present', 'present'), 40).deleted].sort()).toEqual([
      'Pod',
      'Service',
    ]);
    expect([...x.pending('ns/a', seen('2', 'deleting', 'absent'), 50).deleted]).toEqual([]);
    expect(x.size).toBe(0);
  });

  it('forgets what the cache never confirmed after the TTL, so a lost event never strands a session', () => {
    const x = new Expectations(1000);
    x.wrote('ns/a', { statusFrom: '5', created: ['Pod'], deleted: ['Service'] }, 0);
    const before = x.pending('ns/a', seen('5', 'absent', 'present'), 999);
    expect(before.staleSession).toBe(true);
    expect([...before.created]).toEqual(['Pod']);
    expect([...before.deleted]).toEqual(['Service']);
    const after = x.pending('ns/a', seen('5', 'absent', 'present'), 1000);
    expect(after).toEqual({ staleSession: false, created: new Set(), deleted: new Set() });
  });

  it('keeps sessions apart, and forget drops one', () => {
    const x = new Expectations(10_000);
    x.wrote('ns/a', { statusFrom: '1' }, 0);
    x.wrote('ns/b', { statusFrom: '1' }, 0);
    x.forget('ns/a');
    expect(x.pending('ns/a', seen('1'), 1).staleSession).toBe(false);
    expect(x.pending('ns/b', seen('1'), 1).staleSession).toBe(true);
  });
});

describe('childState', () => {
  it('tells absent, present and deleting apart', () => {
    expect(childState(undefined)).toBe('absent');
    expect(childState({ metadata: {} })).toBe('present');
    expect(childState({ metadata: { deletionTimestamp: new Date() } })).toBe('deleting');
  });
});
