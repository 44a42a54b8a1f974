import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, envOverrides, formatPath, loadConfig, parseFlags } from './config.js';

const schema = z.strictObject({
  name: z.string().default('n'),
  count: z.number().int().default(1),
  on: z.boolean().default(false),
  nested: z.strictObject({ a: z.number().default(1), b: z.string().default('b') }).prefault({}),
  map: z.record(z.string(), z.string()).default({ x: 'y' }),
});

describe('loadConfig', () => {
  const file = (yaml: string) => {
    const path = join(mkdtempSync(join(tmpdir(), 'bf-config-')), 'c.yaml');
    writeFileSync(path, yaml);
    return path;
  };

  it('puts the file over the defaults field by field; maps and lists are replaced whole', () => {
    expect(loadConfig(schema, { file: file('nested: { b: c }\nmap: { k: v }\n') })).toEqual({
      name: 'n',
      count: 1,
      on: false,
      nested: { a: 1, b: 'c' },
      map: { k: 'v' },
    });
    expect(loadConfig(schema, { file: file('') })).toEqual(schema.parse({}));
  });

  it('coerces override strings to the type at their path, later overrides winning', () => {
    const env = { N: 'from-env', C: '42', O: 'true', A: '7', B: '8' };
    const overrides = envOverrides(env, { N: 'name', C: 'count', O: 'on', A: 'nested.a', B: 'nested.b' });
    const c = loadConfig(schema, { overrides: [...overrides, { from: '--on', path: 'on', value: false }] });
    expect(c).toMatchObject({ name: 'from-env', count: 42, on: false, nested: { a: 7, b: '8' } });
  });

  it('leaves an override it cannot coerce for the schema to refuse, naming where it came from', () => {
    expect(() => loadConfig(schema, { overrides: envOverrides({ C: '4x' }, { C: 'count' }) })).toThrow(
      new ConfigError('config (no file): count (from C): Invalid input: expected number, received string'),
    );
    expect(() => loadConfig(schema, { overrides: envOverrides({ O: 'yes' }, { O: 'on' }) })).toThrow(
      'config (no file): on (from O): Invalid input: expected boolean, received string',
    );
  });

  it('refuses unknown keys at any depth with their path and the known keys', () => {
    expect(() => loadConfig(schema, { file: file('nested: { c: 1 }\nextra: 2\n') })).toThrow(
      /nested\.c: unknown key \(known: a, b\)\n.*: extra: unknown key \(known: name, count, on, nested, map\)$/,
    );
  });
});

describe('formatPath', () => {
  it.each([
    [[], '(root)'],
    [['a'], 'a'],
    [['a', 'b', 0, 'c'], 'a.b[0].c'],
    [[1], '[1]'],
  ])('%j → %s', (path, text) => expect(formatPath(path)).toBe(text));
});

describe('parseFlags', () => {
  const options = { config: { type: 'string' }, simulate: { type: 'boolean' } } as const;

  it('reads known flags', () => {
    expect(parseFlags(['--config', 'f.yaml', '--simulate'], options)).toEqual({
      config: 'f.yaml',
      simulate: true,
    });
    expect(parseFlags(['--config=f.yaml'], options)).toEqual({ config: 'f.yaml' });
  });

  it.each([['--confg', 'x'], ['stray'], ['--config']])('refuses %j', (...argv) => {
    expect(() => parseFlags(argv, options)).toThrow(ConfigError);
  });
});
