import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/**
 * Turns the CRDs in crds/ (the single source of truth for the API) into TypeScript types. Only the subset
 * of OpenAPI that our CRDs use is supported; anything else is an error, so a schema change can't silently
 * produce a loose type.
 */

interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  default?: unknown;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

interface Crd {
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; storage: boolean; schema: { openAPIV3Schema: Schema } }[];
  };
}

export function generateTypes(crdDir: string): string {
  const files = readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  const out: string[] = [
    '// Generated from crds/*.yaml by `make manifests` (src/api/codegen.ts). Do not edit by hand.',
    '',
  ];
  const defaults: Record<string, unknown> = {};
  for (const file of files) {
    const crd = parse(readFileSync(path.join(crdDir, file), 'utf8')) as Crd;
    const version = crd.spec.versions.find((v) => v.storage);
    if (!version) throw new Error(`${file}: no storage version`);
    const kind = crd.spec.names.kind;
    const props = version.schema.openAPIV3Schema.properties ?? {};
    out.push(`export const ${lowerFirst(kind)}ApiVersion = '${crd.spec.group}/${version.name}';`, '');
    for (const part of ['spec', 'status'] as const) {
      const s = props[part];
      if (!s) continue;
      out.push(
        ...doc(s.description, ''),
        `export interface ${kind}${upperFirst(part)} ${objectType(s, '')}`,
        '',
      );
    }
    out.push(
      `export interface ${kind} {`,
      `  apiVersion: '${crd.spec.group}/${version.name}';`,
      `  kind: '${kind}';`,
      "  metadata: import('@kubernetes/client-node').V1ObjectMeta;",
      `  spec: ${kind}Spec;`,
      ...(props['status'] ? [`  status?: ${kind}Status;`] : []),
      '}',
      '',
    );
    const kindDefaults = defaultsOf(version.schema.openAPIV3Schema);
    if (kindDefaults !== undefined) defaults[kind] = kindDefaults;
  }
  out.push(
    '/**',
    " * The schemas' `default:` values, by kind and field path (`items` for each element of a list). The API",
    ' * server fills them in, so objects read from it have them; code falls back to these, never to its own copy,',
    ' * for objects built in memory.',
    ' */',
    `export const DEFAULTS = ${literal(defaults, '')} as const;`,
    '',
  );
  return out.join('\n');
}

/** The defaults in a schema, nested as the schema is; undefined when it declares none. */
function defaultsOf(s: Schema): unknown {
  if (s.default !== undefined) {
    if (typeof s.default === 'object' && s.default !== null)
      throw new Error('only scalar defaults are supported');
    return s.default;
  }
  const out: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(s.properties ?? {})) {
    const d = defaultsOf(prop);
    if (d !== undefined) out[name] = d;
  }
  const items = s.items && defaultsOf(s.items);
  if (items !== undefined) out['items'] = items;
  return Object.keys(out).length ? out : undefined;
}

function typeOf(s: Schema, indent: string): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v).replaceAll('"', "'")).join(' | ');
  switch (s.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
      if (!s.items) throw new Error('array without items');
      return `Array<${typeOf(s.items, indent)}>`;
    case 'object':
      if (!s.properties && s['x-kubernetes-preserve-unknown-fields']) return 'Record<string, unknown>';
      return objectType(s, indent);
    default:
      throw new Error(`unsupported schema type ${String(s.type)}`);
  }
}

function objectType(s: Schema, indent: string): string {
  const inner = `${indent}  `;
  const lines = ['{'];
  for (const [name, prop] of Object.entries(s.properties ?? {})) {
    const optional = s.required?.includes(name) ? '' : '?';
    lines.push(...doc(prop.description, inner), `${inner}${name}${optional}: ${typeOf(prop, inner)};`);
  }
  lines.push(`${indent}}`);
  return lines.join('\n');
}

/** A TypeScript literal for JSON-like data: identifier keys unquoted, strings single-quoted. */
function literal(v: unknown, indent: string): string {
  if (typeof v === 'string') return `'${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  const inner = `${indent}  `;
  const entries = Object.entries(v).map(
    ([k, x]) => `${inner}${/^[A-Za-z_$][\w$]*$/.test(k) ? k : literal(k, '')}: ${literal(x, inner)},`,
  );
  return ['{', ...entries, `${indent}}`].join('\n');
}

function doc(text: string | undefined, indent: string): string[] {
  return text ? [`${indent}/** ${text.trim().replaceAll('*/', '*\\/')} */`] : [];
}

const upperFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);
