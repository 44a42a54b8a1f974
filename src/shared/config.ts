import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { parse } from 'yaml';
import { type ZodError, type ZodType, z } from 'zod';

/** A setting a process cannot start with: a bad config file, environment variable or flag. */
export class ConfigError extends Error {}

export type Env = Record<string, string | undefined>;

/** One setting given outside the file: `from` (an env variable or flag) sets the field at a dotted `path`. */
export interface Override {
  from: string;
  path: string;
  value: string | boolean;
}

/** The overrides `env` holds, given variable name → dotted field path. */
export function envOverrides(env: Env, names: Record<string, string>): Override[] {
  return Object.entries(names).flatMap(([from, path]) => {
    const value = env[from];
    return value === undefined ? [] : [{ from, path, value }];
  });
}

/**
 * Config = the schema's defaults, under the YAML file, under the overrides (later ones win). Merging is the
 * schema's work: every field declares its default, and an object field defaults to `{}` run through its own
 * fields' defaults, so a file that sets one nested field keeps the defaults of its siblings (deep merge of file
 * over defaults). Override values are strings; each is coerced to the type the schema has at its path, so
 * `"30"` becomes 30 where a number is wanted and anything else is left for the schema to refuse.
 */
export function loadConfig<S extends ZodType>(
  schema: S,
  opts: { file?: string | undefined; overrides?: readonly Override[] },
): z.output<S> {
  const input = opts.file ? readYamlMapping(opts.file) : {};
  const origins = new Map<string, string>();
  for (const o of opts.overrides ?? []) {
    const value = typeof o.value === 'string' ? coerce(schemaAt(schema, o.path), o.value) : o.value;
    setPath(input, o.path, value);
    origins.set(o.path, o.from);
  }
  return parseConfig(schema, input, opts.file ?? '(no file)', origins);
}

/** Parses `input` with `schema`, or throws a ConfigError with one `config <source>: <path>: <message>` line per problem. */
export function parseConfig<S extends ZodType>(
  schema: S,
  input: unknown,
  source: string,
  origins: ReadonlyMap<string, string> = new Map(),
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(formatConfigError(result.error, source, schema, origins));
}

export function formatConfigError(
  error: ZodError,
  source: string,
  schema?: ZodType,
  /** Dotted field path → the env variable or flag that set it. */
  origins: ReadonlyMap<string, string> = new Map(),
): string {
  const lines: string[] = [];
  for (const issue of error.issues) {
    const at = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const known = schema ? objectKeys(schemaAt(schema, at)) : [];
      const hint = known.length ? ` (known: ${known.join(', ')})` : '';
      for (const key of issue.keys)
        lines.push(`config ${source}: ${formatPath([...at, key])}: unknown key${hint}`);
      continue;
    }
    const path = formatPath(at);
    const origin = origins.get(path);
    // zod words a missing required value as a type error ("expected string, received undefined").
    const missing = issue.code === 'invalid_type' && issue.message.endsWith('received undefined');
    const message = missing ? `required, not set (${issue.expected})` : issue.message;
    lines.push(`config ${source}: ${path}${origin ? ` (from ${origin})` : ''}: ${message}`);
  }
  return lines.join('\n');
}

/** `a.b[0].c`; the whole document is `(root)`. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || '(root)';
}

/**
 * `node:util` parseArgs with `strict: true` and no positionals, so a mistyped flag stops the process instead
 * of being ignored; its errors become ConfigErrors.
 */
export function parseFlags<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: O,
) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new ConfigError(`flags: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function readYamlMapping(file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`config ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isPlainObject(doc)) throw new ConfigError(`config ${file}: (root): must be a mapping`);
  return doc;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let at = target;
  for (const p of parts.slice(0, -1)) {
    const next = at[p];
    // A non-mapping here is the file's mistake; the schema reports it, with the env value left out.
    if (next !== undefined && !isPlainObject(next)) return;
    if (next === undefined) at[p] = {};
    at = at[p] as Record<string, unknown>;
  }
  at[parts[parts.length - 1] as string] = value;
}

function coerce(leaf: ZodType | undefined, raw: string): unknown {
  switch (leaf?.def.type) {
    case 'number':
    case 'int':
      return /^[+-]?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw;
    case 'boolean':
      if (['true', '1'].includes(raw.trim())) return true;
      if (['false', '0'].includes(raw.trim())) return false;
      return raw;
    default:
      return raw;
  }
}

/** The schema of the field at a path (dotted, or as segments), with defaults, optionality and refinements unwrapped. */
function schemaAt(schema: ZodType, path: string | readonly (string | number)[]): ZodType | undefined {
  const segments = typeof path === 'string' ? path.split('.') : path;
  let at: ZodType | undefined = unwrap(schema);
  for (const key of segments) {
    if (!at) return undefined;
    const def = at.def as { type: string; element?: ZodType };
    let next: ZodType | undefined;
    if (def.type === 'object') next = (at as unknown as z.ZodObject).shape[key];
    else if (def.type === 'array' && typeof key === 'number') next = def.element;
    at = next && unwrap(next);
  }
  return at;
}

function unwrap(schema: ZodType): ZodType {
  let s = schema;
  for (;;) {
    const def = s.def as { type: string; innerType?: ZodType; in?: ZodType };
    if (def.innerType) s = def.innerType;
    else if (def.type === 'pipe' && def.in) s = def.in;
    else return s;
  }
}

function objectKeys(schema: ZodType | undefined): string[] {
  return schema && schema.def.type === 'object' ? Object.keys((schema as unknown as z.ZodObject).shape) : [];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Field types more than one config uses.

/** `host:port`, an empty host meaning every interface. */
export const hostPort = z.string().regex(/^[^\s:]*:\d{1,5}$/, 'must be host:port');

/** An integer in min..max (inclusive). */
export const intIn = (min: number, max: number) => z.number().int().min(min).max(max);
