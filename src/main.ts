#!/usr/bin/env node
import { ConfigError } from './shared/config.js';

// One image, one entrypoint for browserfleet's own processes: the first argument picks the process.
const commands: Record<string, () => Promise<void>> = {
  operator: async () => (await import('./operator/main.js')).runOperator(process.argv.slice(3)),
  gateway: async () => (await import('./gateway/main.js')).runGateway(process.argv.slice(3)),
  sidecar: async () => (await import('./sidecar/main.js')).runSidecar(process.argv.slice(3)),
};

const name = process.argv[2] ?? '';
const command = commands[name];
if (!command) {
  process.stderr.write(`usage: browserfleet <${Object.keys(commands).join('|')}> [flags]\n`);
  process.exit(2);
}
command().catch((err: unknown) => {
  // A bad flag or setting: the message names it; a stack trace would only bury it.
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message.replace(/^/gm, `${name}: `)}\n`);
    process.exit(2);
  }
  process.stderr.write(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
