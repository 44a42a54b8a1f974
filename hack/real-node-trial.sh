#!/usr/bin/env bash
# The proof of hack/real-node.sh by hand: a control plane (hack/real-node-trial-cp.mjs), a real node, the browser
# pod of hack/real-node-trial-pod.yaml driven over CDP through its sidecar, kubectl logs and exec, then down, and a
# snapshot of what the host holds (processes, mounts, iptables, links, nfacct, netns, cgroups, sysctls, paths)
# before up and after down, diffed. Needs root, `make tools images` and `npx tsc -p tsconfig.build.json`.
# Usage: flock /tmp/bf-cluster.lock hack/real-node-trial.sh [work-dir]   (default /tmp/rn-trial; removed first)
set -uo pipefail
cd "$(dirname "$0")/.."
source hack/tools-env.sh
T="${1:-/tmp/rn-trial}"
rm -rf "$T"; mkdir -p "$T"
K="$BF_TOOLS_BIN/kubectl --kubeconfig $T/cp/admin.kubeconfig"
snapshot() { # file
  {
    # Other work on the machine may run Chromes of its own: only the node's processes and those in pod cgroups.
    echo "## processes"; ps -eo comm= | grep -E '^(containerd|containerd-shim|kubelet|kube-proxy|runc|pause|conmon)' | sort | uniq -c
    echo "in pod cgroups: $(cat /sys/fs/cgroup/memory/kubepods/cgroup.procs /sys/fs/cgroup/memory/kubepods/*/cgroup.procs \
      /sys/fs/cgroup/memory/kubepods/*/*/cgroup.procs /sys/fs/cgroup/memory/kubepods/*/*/*/cgroup.procs 2>/dev/null | wc -l)"
    echo "## mounts"; findmnt -rn -o TARGET | grep -E 'kubelet|containerd|netns|rn-trial|/var/lib|/run/' | sort
    echo "## iptables"; for t in filter nat mangle raw; do iptables-save -t $t | grep -v '^#' | sed 's/\[[0-9:]*\]//'; done
    echo "## ip6tables"; for t in filter nat mangle raw; do ip6tables-save -t $t | grep -v '^#' | sed 's/\[[0-9:]*\]//'; done
    echo "## links"; ip -br link | awk '{print $1}' | sort
    echo "## nfacct"; nfacct list
    echo "## netns"; ip netns list
    echo "## cgroups"; find /sys/fs/cgroup -maxdepth 2 -name 'kubepods*' -o -maxdepth 2 -name 'libpod*' | sort
    echo "## sysctls"; sysctl vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes
    echo "## paths"; ls -d /var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd /run/nri /run/runc /run/netns /var/lib/containers /etc/cni/net.d/* 2>&1 | sort
  } > "$1" 2>&1
}
# Browser.getVersion, a page from a data URL, Runtime.evaluate and a screenshot, through the sidecar's CDP port.
CDP_CHECK=$(cat <<'JS'
import { createRequire } from 'node:module';
const WebSocket = createRequire(process.cwd() + '/package.json')('ws');
const url = process.argv[1];
const ws = new WebSocket(url);
let id = 0;
const call = (method, params = {}, sessionId) => new Promise((resolve, reject) => {
  const n = ++id;
  const onMsg = (data) => { const m = JSON.parse(data); if (m.id === n) { ws.off('message', onMsg); m.error ? reject(new Error(m.error.message)) : resolve(m.result); } };
  ws.on('message', onMsg);
  ws.send(JSON.stringify({ id: n, method, params, ...(sessionId ? { sessionId } : {}) }));
});
ws.on('open', async () => {
  const v = await call('Browser.getVersion');
  const { targetId } = await call('Target.createTarget', { url: 'data:text/html,<title>real-node</title><h1>hello</h1>' });
  const { sessionId } = await call('Target.attachToTarget', { targetId, flatten: true });
  await new Promise((r) => setTimeout(r, 500));
  const r = await call('Runtime.evaluate', { expression: 'document.title + " " + document.querySelector("h1").textContent' }, sessionId);
  const shot = await call('Page.captureScreenshot', {}, sessionId);
  console.log(`CDP through the sidecar: ${v.product}; evaluate -> ${r.result.value}; screenshot ${Buffer.from(shot.data, 'base64').length} bytes`);
  ws.close();
});
ws.on('error', (e) => { console.error('CDP error', e.message); process.exit(1); });
JS
)
snapshot $T/before.txt
echo "=== control plane"
node hack/real-node-trial-cp.mjs $T/cp > $T/cp.log 2>&1 &
cppid=$!
for i in $(seq 100); do [[ -f $T/cp/admin.kubeconfig ]] && break; sleep 0.2; done
cat $T/cp.log
echo "=== up"
time bash hack/real-node.sh up $T/node $T/cp/admin.kubeconfig
rc=$?
if [[ $rc -eq 0 ]]; then
  echo "=== kubectl get nodes -o wide"
  $K get nodes -o wide
  echo "=== browser pod"
  t0=$(date +%s%N)
  $K apply -f hack/real-node-trial-pod.yaml
  $K wait --for=jsonpath='{.status.phase}'=Running pod/trial-browser --timeout=90s && echo "Running after $(( ($(date +%s%N)-t0)/1000000 )) ms"
  $K wait --for=condition=Ready pod/trial-browser --timeout=90s && echo "Ready after $(( ($(date +%s%N)-t0)/1000000 )) ms"
  $K get pod trial-browser -o wide
  ip=$($K get pod trial-browser -o jsonpath='{.status.podIP}')
  echo "=== curl $ip:9224/healthz"; curl -s -w ' [%{http_code}]\n' http://$ip:9224/healthz
  echo "=== curl $ip:9223/json/version (token)"; curl -s -w ' [%{http_code}]\n' -H 'Authorization: Bearer trial-token' "http://$ip:9223/json/version?token=trial-token"
  echo "=== curl $ip:9223/json/version (no token)"; curl -s -o /dev/null -w '[%{http_code}]\n' "http://$ip:9223/json/version"
  echo "=== CDP"; ws=$(curl -s "http://$ip:9223/json/version?token=trial-token" | python3 -c 'import json,sys;print(json.load(sys.stdin)["webSocketDebuggerUrl"])'); node --input-type=module -e "$CDP_CHECK" "$ws"
  echo "=== kubectl logs -c sidecar"; $K logs trial-browser -c sidecar | head -5
  echo "=== kubectl logs -c chrome"; $K logs trial-browser -c chrome | head -5
  echo "=== kubectl exec"; $K exec trial-browser -c sidecar -- node -e 'console.log(process.version, "uid", process.getuid(), require("os").hostname())'
  $K exec trial-browser -c chrome -- /usr/lib/chromium/chromium --version
  echo "=== events"; $K get events --field-selector involvedObject.name=trial-browser -o custom-columns=REASON:.reason,MESSAGE:.message | head -20
  echo "=== ctr images"; "$BF_TOOLS_BIN/ctr" -a $T/node/containerd/containerd.sock -n k8s.io images ls -q | grep -v sha256
  echo "=== memory"; ps -o rss=,comm= -C kubelet,containerd,kube-proxy
fi
snapshot $T/during.txt
echo "=== down"
time bash hack/real-node.sh down $T/node
kill -TERM $cppid; wait $cppid
cat $T/cp.log | tail -1
sleep 1
snapshot $T/after.txt
echo "=== diff before after"
diff $T/before.txt $T/after.txt && echo "(no difference)" || rc=1
echo "=== during vs before (what up added)"
diff $T/before.txt $T/during.txt | head -80
exit "$rc"
