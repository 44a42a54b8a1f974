// A control plane for trying hack/real-node.sh by hand: the project's own (dist/localcluster/control-plane.js,
// so `npx tsc -p tsconfig.build.json` first) plus the two apiserver settings a real kubelet needs and the module
// does not yet pass: a client certificate for calls to the kubelet (logs, exec) and InternalIP as the address to
// dial it by. They are added by putting a kube-apiserver wrapper first in BF_TOOLS_BIN.
// Usage: node hack/real-node-trial-cp.mjs <dir>  (writes <dir>/admin.kubeconfig; stops on SIGTERM or SIGINT)
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node hack/real-node-trial-cp.mjs <dir>');
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const realBin = execFileSync('bash', ['-c', `source "${repo}/hack/tools-env.sh" && printf %s "$BF_TOOLS_BIN"`], {
  encoding: 'utf8',
});
const bin = path.join(dir, 'bin');
mkdirSync(bin, { recursive: true });
for (const f of readdirSync(realBin)) {
  if (f !== 'kube-apiserver') symlinkSync(path.join(realBin, f), path.join(bin, f));
}
// The wrapper signs a kubelet-client certificate with the CA next to --client-ca-file (the module's state dir).
writeFileSync(
  path.join(bin, 'kube-apiserver'),
  `#!/usr/bin/env bash
set -euo pipefail
for a in "$@"; do case "$a" in --client-ca-file=*) pki="$(dirname "\${a#*=}")" ;; esac; done
cd "$pki"
openssl ecparam -name prime256v1 -genkey -noout -out kubelet-client.key
openssl req -new -key kubelet-client.key -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" -out kubelet-client.csr
printf 'extendedKeyUsage=clientAuth\\n' > kubelet-client.ext
openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile kubelet-client.ext \\
  -out kubelet-client.crt 2>/dev/null
exec "${realBin}/kube-apiserver" "$@" --kubelet-client-certificate="$pki/kubelet-client.crt" \\
  --kubelet-client-key="$pki/kubelet-client.key" --kubelet-preferred-address-types=InternalIP,Hostname
`,
);
chmodSync(path.join(bin, 'kube-apiserver'), 0o755);
process.env['BF_TOOLS_BIN'] = bin;

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
