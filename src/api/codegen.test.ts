import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../shared/repo-root.js';
import { generateTypes } from './codegen.js';

describe('API types', () => {
  it('match crds/ (run `make manifests` after changing a CRD)', () => {
    const committed = readFileSync(path.join(repoRoot, 'src/api/generated.ts'), 'utf8');
    expect(committed).toBe(generateTypes(path.join(repoRoot, 'crds')));
  });
});
