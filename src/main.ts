#!/usr/bin/env node
// One image, one entrypoint for browserfleet's own processes: the first argument picks the process.
const commands: Record<string, () => Promise<void>> = {
  operator: async () => (await import('./operator/main.js')).runOperator(process.argv.slice(3)),
  gateway: async () => (await import('./gateway/main.js')).runGateway(process.argv.slice(3)),
  sidecar: async () => (await import('./sidecar/main.js')).runSidecar(),
  localnode: async () => (await import('./localnode/main.js')).runLocalnode(process.argv.slice(3)),
};

const name = process.argv[2] ?? '';
const command = commands[name];
if (!command) {
  process.stderr.write(`usage: browserfleet <${Object.keys(commands).join('|')}> [flags]\n`);
  process.exit(2);
}
command().catch((err: unknown) => {
  process.stderr.write(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
