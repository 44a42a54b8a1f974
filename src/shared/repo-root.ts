import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The browserfleet checkout this code runs from: the nearest directory above this file with package.json and
 * crds/. Walked up rather than computed, because the file sits at different depths from source (src/shared/),
 * built (dist/shared/) and built with the benchmarks (dist-bench/src/shared/). Only development tools use it
 * (make dev, the code generator, the control plane's tool lookup, tests and benchmarks).
 */
export const repoRoot = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'crds')) || !existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir)
      throw new Error(`cannot find the browserfleet checkout above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
})();
