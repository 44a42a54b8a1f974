import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../shared/repo-root.js';
import { generateTypes } from './codegen.js';

// `make manifests`: regenerate the TypeScript API types from crds/.
writeFileSync(path.join(repoRoot, 'src/api/generated.ts'), generateTypes(path.join(repoRoot, 'crds')));
