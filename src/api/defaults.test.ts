import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../shared/repo-root.js';
import { apiKeyDataKey, projectOf, projectSpec } from './defaults.js';
import { DEFAULTS } from './generated.js';

const crd = (file: string) =>
  parse(readFileSync(path.join(repoRoot, 'crds', file), 'utf8')) as {
    spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: unknown } } } }[] };
  };

describe('DEFAULTS', () => {
  it("holds the CRDs' own default: values", () => {
    const spec = crd('browserprojects.browserfleet.dev.yaml').spec.versions[0]?.schema.openAPIV3Schema
      .properties.spec as { properties: Record<string, { default?: unknown }> };
    expect(DEFAULTS.BrowserProject.spec.maxTimeout).toBe(spec.properties['maxTimeout']?.default);
    expect(DEFAULTS.BrowserProject.spec.defaultTimeout).toBe(spec.properties['defaultTimeout']?.default);
    expect(DEFAULTS.BrowserSession.spec.project).toBe('default');
  });
});

describe('projectSpec', () => {
  it('fills the defaulted fields a spec lacks and keeps the ones it has', () => {
    const s = projectSpec({
      spec: { namespace: 'team', concurrency: 2, maxTimeout: 600, maxQueued: undefined },
    });
    expect(s).toEqual({
      namespace: 'team',
      concurrency: 2,
      maxTimeout: 600,
      maxQueued: 0,
      defaultTimeout: 300,
      ttlSecondsAfterFinished: 3600,
      createsPerMinute: 0,
      maxDownloadBytes: 1073741824,
    });
  });
});

describe('projectOf and apiKeyDataKey', () => {
  it('fall back to the CRD defaults', () => {
    expect(projectOf({ spec: {} })).toBe('default');
    expect(projectOf({ spec: { project: 'p' } })).toBe('p');
    expect(apiKeyDataKey({ name: 's' })).toBe('apiKey');
    expect(apiKeyDataKey({ name: 's', key: 'k' })).toBe('k');
  });
});
