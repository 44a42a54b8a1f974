import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../shared/repo-root.js';

/**
 * Where `make tools` put the binaries. hack/tools-env.sh owns the cache key (a hash of the pins), so the
 * answer is asked from it rather than recomputed here.
 */
export function toolsBin(): string {
  const fromEnv = process.env['BF_TOOLS_BIN'];
  if (fromEnv) return fromEnv;
  const script = path.join(repoRoot, 'hack/tools-env.sh');
  return execFileSync('bash', ['-c', `source "${script}" && printf %s "$BF_TOOLS_BIN"`], {
    encoding: 'utf8',
  });
}

export function tool(name: string): string {
  const file = path.join(toolsBin(), name);
  if (!existsSync(file)) {
    throw new Error(`${name} not found at ${file}: run \`make tools\` first`);
  }
  return file;
}
