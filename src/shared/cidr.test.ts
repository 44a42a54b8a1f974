import { describe, expect, it } from 'vitest';
import { AddressPool, cidrContains, cidrsOverlap, formatCidr, isPrivateCidr, parseCidr } from './cidr.js';

describe('parseCidr', () => {
  it.each([
    ['10.244.0.0/16', '10.244.0.0/16', 65536],
    ['10.244.7.9/16', '10.244.0.0/16', 65536],
    ['192.168.5.0/24', '192.168.5.0/24', 256],
  ])('%s → %s', (text, normal, size) => {
    const c = parseCidr(text);
    expect(formatCidr(c)).toBe(normal);
    expect(c.size).toBe(size);
  });

  it.each(['10.244.0.0', '10.244.0.0/31', '10.244.0.0/4', '300.1.1.1/16', 'a.b.c.d/8'])(
    'refuses %s',
    (text) => {
      expect(() => parseCidr(text)).toThrow();
    },
  );

  it('knows private ranges, containment and overlap', () => {
    expect(isPrivateCidr(parseCidr('10.244.0.0/16'))).toBe(true);
    expect(isPrivateCidr(parseCidr('100.64.1.0/24'))).toBe(true);
    expect(isPrivateCidr(parseCidr('8.8.0.0/16'))).toBe(false);
    expect(isPrivateCidr(parseCidr('172.15.0.0/16'))).toBe(false);
    expect(cidrContains(parseCidr('10.244.0.0/16'), '10.244.255.254')).toBe(true);
    expect(cidrContains(parseCidr('10.244.0.0/16'), '10.245.0.1')).toBe(false);
    expect(cidrContains(parseCidr('10.244.0.0/16'), 'nonsense')).toBe(false);
    expect(cidrsOverlap(parseCidr('10.244.0.0/16'), parseCidr('10.244.3.0/24'))).toBe(true);
    expect(cidrsOverlap(parseCidr('10.244.0.0/16'), parseCidr('10.245.0.0/24'))).toBe(false);
  });
});

describe('AddressPool', () => {
  it('hands out host addresses after the gateway, never network, gateway or broadcast', () => {
    const pool = new AddressPool(parseCidr('10.9.0.0/29'));
    expect(pool.gateway).toBe('10.9.0.1');
    expect(pool.capacity).toBe(5);
    const got = ['a', 'b', 'c', 'd', 'e'].map((o) => pool.allocate(o));
    expect(got).toEqual(['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
    expect(() => pool.allocate('f')).toThrow(/exhausted/);
  });

  it('gives an owner the address it already holds, and honours a free preferred address', () => {
    const pool = new AddressPool(parseCidr('10.9.0.0/24'));
    expect(pool.allocate('a', '10.9.0.77')).toBe('10.9.0.77');
    expect(pool.allocate('a')).toBe('10.9.0.77');
    // taken by a → b gets another one
    expect(pool.allocate('b', '10.9.0.77')).not.toBe('10.9.0.77');
    // outside the CIDR or the gateway → ignored
    expect(pool.allocate('c', '10.10.0.5')).toMatch(/^10\.9\.0\./);
    expect(pool.reserve('d', '10.9.0.1')).toBe(false);
    expect(pool.reserve('d', '10.9.0.255')).toBe(false);
  });

  it('does not reuse a released address right away', () => {
    const pool = new AddressPool(parseCidr('10.9.0.0/24'));
    const a = pool.allocate('a');
    pool.release('a');
    expect(pool.allocate('b')).not.toBe(a);
    expect(pool.ownerOf(a)).toBeUndefined();
    expect(pool.allocated).toBe(1);
  });

  it('reserves addresses that pods already report', () => {
    const pool = new AddressPool(parseCidr('10.9.0.0/24'));
    expect(pool.reserve('a', '10.9.0.2')).toBe(true);
    expect(pool.reserve('b', '10.9.0.2')).toBe(false);
    expect(pool.allocate('b')).toBe('10.9.0.3');
  });
});
