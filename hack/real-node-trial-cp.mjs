// A control plane for trying hack/real-node.sh by hand: the project's own (dist/localcluster/control-plane.js,
// so `npx tsc -p tsconfig.build.json` first), which passes the kubelet client certificate, the preferred address
// types and the CSR signing flags a real node needs.
// Usage: node hack/real-node-trial-cp.mjs <dir>  (writes <dir>/admin.kubeconfig; stops on SIGTERM or SIGINT)
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node hack/real-node-trial-cp.mjs <dir>');
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
mkdirSync(dir, { recursive: true });
const { startControlPlane } = await import(path.join(repo, 'dist/localcluster/control-plane.js'));
const cp = await startControlPlane();
copyFileSync(cp.kubeconfigPath, path.join(dir, 'admin.kubeconfig'));
console.log(`control plane ready in ${cp.readyMs} ms: ${cp.server}, kubeconfig ${dir}/admin.kubeconfig`);
const stop = async () => {
  await cp.stop();
  console.log('control plane stopped');
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
