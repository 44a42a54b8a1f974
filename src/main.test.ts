import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGateway } from './gateway/main.js';
import { runOperator } from './operator/main.js';
import { ConfigError } from './shared/config.js';
import { runSidecar } from './sidecar/main.js';

const env = { BF_SESSION_KEY: 'k'.repeat(32) };
const badFile = join(mkdtempSync(join(tmpdir(), 'bf-main-')), 'bad.yaml');
writeFileSync(badFile, 'surprise: true\n');

// Each entry point refuses before it starts anything, so these need no cluster.
describe('every process refuses a bad flag or config file at start', () => {
  it.each([
    ['operator', (argv: string[]) => runOperator(argv, env)],
    ['gateway', (argv: string[]) => runGateway(argv, env)],
    ['sidecar', (argv: string[]) => runSidecar(argv, env)],
  ])('%s', async (name, run) => {
    await expect(run(['--confg', badFile])).rejects.toThrow(
      new ConfigError("flags: Unknown option '--confg'"),
    );
    await expect(run(['stray'])).rejects.toThrow(ConfigError);
    if (name === 'sidecar') {
      await expect(run([])).rejects.toThrow(/^config environment: BF_LISTEN_PORT: /);
    } else {
      await expect(run(['--config', badFile])).rejects.toThrow(
        new RegExp(`^config ${badFile}: surprise: unknown key \\(known: `),
      );
    }
  });
});
