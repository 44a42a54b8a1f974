#!/usr/bin/env bash
# Runs a real Kubernetes node on this machine against a control plane: containerd (built by `make tools`) with
# Debian's runc and CNI bridge plugin, the kubelet and kube-proxy, every piece of state under <state-dir>. `down`
# stops it and undoes what it did to the host (processes, mounts, cgroups, iptables chains, the bridge, sysctls
# and the few paths the kubelet and containerd hard-code).
#
# Usage: hack/real-node.sh up <state-dir> <admin-kubeconfig>
#        hack/real-node.sh down <state-dir>
#        hack/real-node.sh import <state-dir> <image>...   (into a running node: those podman has a newer build of)
#        hack/real-node.sh restart-kubelet <state-dir> [down-seconds]
# up writes <state-dir>/node.json: {name, ip, podCIDR, bridge, kubeletKubeconfig}.
# Environment for up: BF_NODE_NAME (default bf-real-node), BF_NODE_BRIDGE (bfreal0), BF_NODE_POD_CIDR
# (10.123.0.0/16, a /16 whose first address becomes the node's IP on the bridge), BF_NODE_CLUSTER_DNS
# (default: the node's own IP, where the node's CoreDNS answers; with BF_NODE_DNS=0 the address of a cluster DNS
# that something else serves), BF_NODE_DNS (1: run CoreDNS, built by `make tools`, on the node's IP for the
# cluster's Service and pod names; 0: none), BF_NODE_IMAGES (images to copy from podman; default the chart's two at package.json's version),
# BF_NODE_IMAGE_STORE (containerd's root, kept across runs so an image is copied only when podman's differs;
# default ~/.cache/browserfleet/node-images/<name>; empty: under <state-dir>, gone at down), BF_NODE_LABELS and
# BF_NODE_TAINTS (the kubelet's --node-labels and --register-with-taints: set as the node registers, so no pod is
# scheduled onto it before they hold), BF_NODE_KUBE_PROXY (1; 0 runs none: kube-proxy programs every Service of
# the cluster into this machine's iptables, which another agent serving the same cluster's Services, such as
# another node's kube-proxy, would then lose to it).
# Needs root, `make tools` and `make images`. One node per machine: the kubelet's port, its kubepods cgroups and
# the KUBE-* chains are machine-wide.
#
# The control plane must let the apiserver reach the kubelet for logs and exec: --kubelet-client-certificate and
# --kubelet-client-key with a client certificate of the cluster CA (the kubelet trusts the kubeconfig's CA for
# clients and asks the apiserver to authorize them), and --kubelet-preferred-address-types=InternalIP (the node's
# name does not resolve). The kubelet's and kube-proxy's own certificates come from the CSR API, so kube-controller-
# manager must run with --cluster-signing-cert-file/--cluster-signing-key-file. src/localcluster/control-plane.ts
# does all of this.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
source "$here/tools-env.sh"

usage() { echo "usage: $0 up <state-dir> <admin-kubeconfig> | down <state-dir> | import <state-dir> <image>... | restart-kubelet <state-dir> [down-seconds]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
cmd="$1"
state="$(realpath -m "$2")"
[[ "$state" != "/" && -n "$state" ]] || { echo "real-node: refusing state dir '$2'" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "real-node: needs root (it runs a kubelet)" >&2; exit 2; }

# Paths the kubelet, containerd and libcni use whatever their configuration says; `down` removes those that did
# not exist before `up`.
HOST_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd /run/nri)
# The kubelet sets these at start unless protectKernelDefaults, and with it refuses to start when they differ.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes)

log() { echo "real-node: $*"; }
since() { echo "$(( $(date +%s%N) / 1000000 - $1 ))ms"; }
now_ms() { echo "$(( $(date +%s%N) / 1000000 ))"; }
sock="$state/containerd/containerd.sock"
# ctr warns on every call that containerd's cgroup v1 support is deprecated; that is known (see tools-env.sh).
ctr_() {
  { "$BF_TOOLS_BIN/ctr" --address "$sock" --namespace k8s.io "$@" 2>&1 1>&3 3>&- \
    | { grep -v 'support for cgroup v1 is deprecated' || true; } >&2; } 3>&1
}
kubectl_() { "$BF_TOOLS_BIN/kubectl" --kubeconfig "$state/admin.kubeconfig" "$@"; }
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_daemon() { # name command... (stays running after this script exits; pid in <state>/run/<name>.pid)
  local name="$1"; shift
  setsid "$@" </dev/null >>"$state/logs/$name.log" 2>&1 &
  echo $! > "$state/run/$name.pid"
}
wait_until() { # seconds description command...
  local deadline=$(( $(date +%s) + $1 )) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) >= deadline )); then log "timed out waiting for $what"; return 1; fi
    sleep 0.2
  done
}
stop_pid_file() { # pid-file [seconds]
  local f="$1" pid; [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $(( ${2:-10} * 5 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "$(basename "$f" .pid) ignored SIGTERM; killing it"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$f"
}

# A client certificate from the cluster's CA through the CSR API (approved with the admin kubeconfig).
issue_cert() { # file-stem common-name organization signer
  local stem="$1" cn="$2" org="$3" signer="$4" name csr
  name="$(basename "$stem")-$(date +%s%N | tail -c 7)"
  openssl ecparam -name prime256v1 -genkey -noout -out "$stem.key" 2>/dev/null
  csr="$(openssl req -new -key "$stem.key" -subj "/O=$org/CN=$cn" | base64 -w0)"
  kubectl_ apply -f - >/dev/null <<EOF
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $name}
spec: {request: $csr, signerName: $signer, usages: [digital signature, client auth]}
EOF
  kubectl_ certificate approve "$name" >/dev/null
  wait_until 30 "certificate $name" bash -c \
    "[[ -n \"\$(\"$BF_TOOLS_BIN/kubectl\" --kubeconfig '$state/admin.kubeconfig' get csr '$name' -o jsonpath='{.status.certificate}')\" ]]"
  kubectl_ get csr "$name" -o jsonpath='{.status.certificate}' | base64 -d > "$stem.crt"
  kubectl_ delete csr "$name" >/dev/null
}
write_kubeconfig() { # file cert-stem
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "$server", certificate-authority: "$state/pki/ca.crt"}}]
users: [{name: node, user: {client-certificate: "$2.crt", client-key: "$2.key"}}]
contexts: [{name: local, context: {cluster: local, user: node}}]
current-context: local
EOF
}

up() {
  local kubeconfig="$1" t_all t0
  t_all=$(now_ms)
  name="${BF_NODE_NAME:-bf-real-node}"
  bridge="${BF_NODE_BRIDGE:-bfreal0}"
  cidr="${BF_NODE_POD_CIDR:-10.123.0.0/16}"
  [[ "$cidr" =~ ^([0-9]+\.[0-9]+)\.0\.0/16$ ]] || { log "BF_NODE_POD_CIDR must be a /16 like 10.123.0.0/16, not '$cidr'"; exit 2; }
  node_ip="${BASH_REMATCH[1]}.0.1"
  run_dns="${BF_NODE_DNS:-1}"
  [[ "$run_dns" == 0 || "$run_dns" == 1 ]] || { log "BF_NODE_DNS must be 0 or 1, not '$run_dns'"; exit 2; }
  if [[ "$run_dns" == 1 ]]; then dns="${BF_NODE_CLUSTER_DNS:-$node_ip}"; else dns="${BF_NODE_CLUSTER_DNS:-10.96.0.10}"; fi
  for b in containerd containerd-shim-runc-v2 ctr kubelet kube-proxy kubectl pause $( ((run_dns)) && echo coredns); do
    [[ -x "$BF_TOOLS_BIN/$b" ]] || { log "$BF_TOOLS_BIN/$b is missing: run make tools"; exit 2; }
  done
  for b in /usr/sbin/runc /usr/lib/cni/bridge /usr/lib/cni/host-local; do
    [[ -x "$b" ]] || { log "$b is missing: run make images (it installs runc and containernetworking-plugins)"; exit 2; }
  done
  [[ "$name" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || { log "BF_NODE_NAME must be a DNS label, not '$name'"; exit 2; }
  labels="${BF_NODE_LABELS:-}" taints="${BF_NODE_TAINTS:-}" kube_proxy="${BF_NODE_KUBE_PROXY:-1}"
  [[ "$kube_proxy" == 0 || "$kube_proxy" == 1 ]] || { log "BF_NODE_KUBE_PROXY must be 0 or 1, not '$kube_proxy'"; exit 2; }
  [[ "$labels" =~ ^[^[:space:]]*$ ]] || { log "BF_NODE_LABELS must be key=value,... without spaces, not '$labels'"; exit 2; }
  [[ "$taints" =~ ^[^[:space:]]*$ ]] || { log "BF_NODE_TAINTS must be key=value:Effect,... without spaces, not '$taints'"; exit 2; }
  if [[ -f "$state/host/node" ]]; then
    log "a node was brought up from $state and not taken down: run '$0 down $state' first"; exit 2
  fi
  [[ -f "$kubeconfig" ]] || { log "no kubeconfig at $kubeconfig"; exit 2; }
  if ip link show "$bridge" >/dev/null 2>&1; then log "interface $bridge exists already: another node runs, or run down"; exit 2; fi

  mkdir -p "$state"/{logs,run,host,pki,kubelet,kube-proxy,coredns,containerd,cni/net.d,cni/ipam,pod-logs}
  cp "$kubeconfig" "$state/admin.kubeconfig"
  # What `down` restores: the host's sysctls, and which hard-coded paths existed already.
  for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")"; done > "$state/host/sysctl.txt"
  : > "$state/host/preexisting"
  for p in "${HOST_PATHS[@]}"; do [[ ! -e "$p" ]] || echo "$p" >> "$state/host/preexisting"; done
  ip netns list 2>/dev/null | awk '{print $1}' > "$state/host/netns" || true
  ! command -v nfacct >/dev/null || nfacct list | sed -n 's/.* = \(.*\);$/\1/p' > "$state/host/nfacct"
  store="${BF_NODE_IMAGE_STORE-${XDG_CACHE_HOME:-$HOME/.cache}/browserfleet/node-images/$name}"
  [[ -n "$store" ]] || store="$state/containerd/root"
  mkdir -p "$store"
  printf '%s\n' "name=$name" "bridge=$bridge" > "$state/host/node"

  t0=$(now_ms)
  server="$(kubectl_ config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
  kubectl_ config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d \
    > "$state/pki/ca.crt"
  issue_cert "$state/pki/kubelet" "system:node:$name" system:nodes kubernetes.io/kube-apiserver-client-kubelet
  issue_cert "$state/pki/kube-proxy" system:kube-proxy system:node-proxier kubernetes.io/kube-apiserver-client
  write_kubeconfig "$state/kubelet/kubeconfig" "$state/pki/kubelet"
  write_kubeconfig "$state/kube-proxy/kubeconfig" "$state/pki/kube-proxy"
  if [[ "$run_dns" == 1 ]]; then
    issue_cert "$state/pki/coredns" browserfleet:node-dns browserfleet:node-dns kubernetes.io/kube-apiserver-client
    write_kubeconfig "$state/coredns/kubeconfig" "$state/pki/coredns"
  fi
  log "certificates from the CSR API in $(since "$t0")"

  # The bridge exists before the first pod so the kubelet can listen on the node IP; the CNI bridge plugin
  # adopts it. No masquerade: pods talk to this machine only.
  ip link add "$bridge" type bridge
  ip addr add "$node_ip/16" dev "$bridge"
  ip link set "$bridge" up
  cat > "$state/cni/net.d/10-browserfleet.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "browserfleet-$name", "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr", "gateway": "$node_ip"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$state/cni/ipam"}}]}
EOF

  t0=$(now_ms)
  local pause_image="localhost/browserfleet/pause:$K8S_VERSION"
  # restrict_oom_score_adj: this VM lacks CAP_SYS_RESOURCE, so containers may not lower their OOM score below
  # containerd's. runc, not crun: crun refuses hybrid cgroups. NRI is off (it would open /run/nri).
  cat > "$state/containerd/config.toml" <<EOF
version = 3
root = "$store"
state = "$state/containerd/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd/opt"
[plugins."io.containerd.nri.v1.nri"]
  disable = true
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$pause_image"
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$state/cni/net.d"
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "$state/containerd/runc"
        SystemdCgroup = false
EOF
  # The shim is found on PATH.
  start_daemon containerd env PATH="$BF_TOOLS_BIN:$PATH" "$BF_TOOLS_BIN/containerd" --config "$state/containerd/config.toml"
  wait_until 30 containerd ctr_ version
  # A kept store holds images only; containers and sandboxes of a run that was not taken down go first.
  remove_containers
  log "containerd $("$BF_TOOLS_BIN/containerd" --version | awk '{print $3}') ready in $(since "$t0")"

  t0=$(now_ms)
  local tag images
  tag="$(node -p "require('$root/package.json').version")"
  read -r -a images <<< "${BF_NODE_IMAGES:-docker.io/browserfleet/browserfleet:$tag docker.io/browserfleet/chrome:$tag}"
  bash "$here/build-images.sh" pause | grep -v '^images: done' || true
  copy_images prune "$pause_image" "${images[@]}"
  log "images $pause_image ${images[*]} in containerd after $(since "$t0")"

  t0=$(now_ms)
  local healthz; healthz="$(free_port)"
  cat > "$state/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This VM has cgroup v1 (hybrid) only; 1.37 refuses it unless told otherwise (KEP-5573).
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$sock
address: $node_ip
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $state/pki/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$dns]
failSwapOn: false
podLogsDir: $state/pod-logs
rotateCertificates: false
serverTLSBootstrap: false
# A shared disk that is fuller than the defaults allow must not evict browsers, nor collect the imported
# images (nothing could pull them back).
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
EOF
  start_daemon kubelet "$BF_TOOLS_BIN/kubelet" --config="$state/kubelet/config.yaml" \
    --kubeconfig="$state/kubelet/kubeconfig" --root-dir="$state/kubelet/root" --cert-dir="$state/kubelet/pki" \
    --hostname-override="$name" --node-ip="$node_ip" ${labels:+--node-labels="$labels"} \
    ${taints:+--register-with-taints="$taints"}
  wait_until 90 "node $name Ready" bash -c "[[ \"\$(\"$BF_TOOLS_BIN/kubectl\" --kubeconfig '$state/admin.kubeconfig' \
    get node '$name' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}')\" == True ]]" || {
    tail -20 "$state/logs/kubelet.log"; exit 1; }
  log "kubelet: node $name Ready in $(since "$t0")"
  restore_sysctls

  if [[ "$kube_proxy" == 1 ]]; then start_kube_proxy; else log "no kube-proxy (BF_NODE_KUBE_PROXY=0)"; fi
  if [[ "$run_dns" == 1 ]]; then start_dns; else log "no cluster DNS of the node's own (BF_NODE_DNS=0; pods ask $dns)"; fi
  printf '{"name": "%s", "ip": "%s", "podCIDR": "%s", "bridge": "%s", "kubeletKubeconfig": "%s"}\n' \
    "$name" "$node_ip" "$cidr" "$bridge" "$state/kubelet/kubeconfig" > "$state/node.json"
  log "node $name up in $(since "$t_all"): IP $node_ip, pods $cidr on $bridge, state $state"
}

# Copies images from podman's store into containerd; with `prune` first, every other image goes too.
copy_images() { # prune|keep image...
  local mode="$1"; shift
  (
    source "$here/podman-env.sh"
    trap bf_podman_remove_strays EXIT
    # Each image is labelled with podman's image ID when copied; one whose ID still matches is not copied again.
    local want=() keep=() i id
    for i in "$@"; do
      id="$(podman image inspect --format '{{.Id}}' "$i" 2>/dev/null)" || {
        log "image $i is not in podman's store: run make images"; exit 2; }
      keep+=("$i" "sha256:$id")
      ctr_ images ls "name==$i" 2>/dev/null | grep -qF "browserfleet.podman-id=$id" || want+=("$i" "$id")
    done
    for ((n = 0; n < ${#want[@]}; n += 2)); do
      podman save --quiet --format docker-archive "${want[n]}" | ctr_ images import --snapshotter overlayfs - >/dev/null
      ctr_ images label "${want[n]}" "browserfleet.podman-id=${want[n+1]}" >/dev/null
      log "copied ${want[n]} into containerd"
    done
    [[ "$mode" == prune ]] || exit 0
    # Older builds go, so the kept store does not grow with every change.
    for i in $(ctr_ images ls -q 2>/dev/null); do
      printf '%s\n' "${keep[@]}" | grep -qxF "$i" || ctr_ images rm "$i" >/dev/null 2>&1 || true
    done
  )
}

# Copies images into a running node's containerd (those podman holds a different build of), e.g. a rebuilt one.
import_images() { # image...
  [[ $# -gt 0 ]] || usage
  [[ -f "$state/host/node" ]] && alive "$state/run/containerd.pid" || { log "no node runs from $state"; exit 2; }
  local t0; t0=$(now_ms)
  copy_images keep "$@"
  log "images $* in containerd after $(since "$t0")"
}

start_kube_proxy() {
  local t0 proxy_healthz
  t0=$(now_ms)
  proxy_healthz="$(free_port)"
  # The conntrack and localhost-nodeport flags keep kube-proxy from changing machine-wide sysctls.
  start_daemon kube-proxy "$BF_TOOLS_BIN/kube-proxy" --kubeconfig="$state/kube-proxy/kubeconfig" \
    --hostname-override="$name" --proxy-mode=iptables --cluster-cidr="$cidr" \
    --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
    --iptables-localhost-nodeports=false --healthz-bind-address="127.0.0.1:$proxy_healthz" \
    --metrics-bind-address="127.0.0.1:$(free_port)"
  wait_until 30 kube-proxy curl -sf "http://127.0.0.1:$proxy_healthz/healthz" || { tail -20 "$state/logs/kube-proxy.log"; exit 1; }
  log "kube-proxy ready in $(since "$t0")"
}

# CoreDNS as a process of the node, on the node's bridge address (the kubelet's clusterDNS): what a cluster's
# DNS add-on does for the chart's Services (`<svc>.<ns>.svc.cluster.local`), without an image of its own. Names
# outside the cluster get no answer: this machine has no upstream to forward to. Its identity may only read what
# the kubernetes plugin watches.
start_dns() {
  local t0 ready
  t0=$(now_ms)
  ready="$(free_port)"
  kubectl_ apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "browserfleet:node-dns"}
rules:
- {apiGroups: [""], resources: [services, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "browserfleet:node-dns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "browserfleet:node-dns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "browserfleet:node-dns"}]
EOF
  cat > "$state/coredns/Corefile" <<EOF
.:53 {
  bind $node_ip
  errors
  ready 127.0.0.1:$ready
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    kubeconfig $state/coredns/kubeconfig local
    fallthrough in-addr.arpa ip6.arpa
  }
  cache 5
}
EOF
  start_daemon coredns "$BF_TOOLS_BIN/coredns" -conf "$state/coredns/Corefile"
  wait_until 30 "CoreDNS" curl -sf "http://127.0.0.1:$ready/ready" || { tail -20 "$state/logs/coredns.log"; exit 1; }
  log "CoreDNS $COREDNS_VERSION on $node_ip:53 ready in $(since "$t0")"
}

# Puts back the sysctls the kubelet changed at its start (vm.overcommit_memory, kernel.panic, ...).
restore_sysctls() {
  [[ -f "$state/host/sysctl.txt" ]] || return 0
  local line key want got
  while IFS= read -r line; do
    key="${line%%=*}" want="${line#*=}" got="$(sysctl -n "$key")"
    if [[ "$got" != "$want" ]]; then sysctl -qw "$key=$want"; log "restored $key=$want (the kubelet set $got)"; fi
  done < "$state/host/sysctl.txt"
}

remove_containers() {
  local c
  for c in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$c" >/dev/null 2>&1 || true; done
  for c in $(ctr_ containers ls -q 2>/dev/null); do
    ctr_ tasks delete -f "$c" >/dev/null 2>&1 || true
    ctr_ containers delete "$c" >/dev/null 2>&1 || true
  done
  for c in $(ctr_ sandboxes ls -q 2>/dev/null); do ctr_ sandboxes rm -f "$c" >/dev/null 2>&1 || true; done
}

delete_chains() { # iptables|ip6tables: removes every KUBE-* and CNI-* chain and the rules that jump to them
  local ipt="$1" table rule chain
  for table in filter nat mangle raw; do
    "$ipt-save" -t "$table" >/dev/null 2>&1 || continue
    while IFS= read -r rule; do
      # shellcheck disable=SC2086 # a saved rule is a list of arguments
      eval "$ipt -t $table -D ${rule#-A }" 2>/dev/null || true
    done < <("$ipt-save" -t "$table" | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j (KUBE|CNI)-')
    for chain in $("$ipt-save" -t "$table" | sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\) .*/\1/p'); do
      "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $("$ipt-save" -t "$table" | sed -n 's/^:\(\(KUBE\|CNI\)-[^ ]*\) .*/\1/p'); do
      "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
}

down() {
  local t0 name="" bridge=""
  t0=$(now_ms)
  # host/node is written before up changes anything on the host and removed at the end of down, so a second down
  # (or one for a state dir that never came up) touches nothing machine-wide.
  [[ -f "$state/host/node" ]] || { log "no node state in $state: nothing to take down"; return 0; }
  source "$state/host/node"
  # Pods first, through the API, so the kubelet stops their sandboxes and CNI removes their network.
  if [[ -n "$name" ]] && alive "$state/run/kubelet.pid" && kubectl_ --request-timeout=3s get node "$name" >/dev/null 2>&1; then
    kubectl_ delete pods --all-namespaces --field-selector "spec.nodeName=$name" --grace-period=1 --wait=false \
      >/dev/null 2>&1 || true
    wait_until 30 "the node's pods to stop" bash -c "[[ -z \"\$('$BF_TOOLS_BIN/ctr' --address '$sock' -n k8s.io tasks ls -q)\" ]]" || true
  fi
  if [[ -f "$state/run/kube-proxy.pid" ]]; then
    stop_pid_file "$state/run/kube-proxy.pid"
    [[ ! -x "$BF_TOOLS_BIN/kube-proxy" ]] || "$BF_TOOLS_BIN/kube-proxy" --cleanup >>"$state/logs/kube-proxy.log" 2>&1 || true
  fi
  stop_pid_file "$state/run/coredns.pid"
  stop_pid_file "$state/run/kubelet.pid"
  if [[ -n "$name" ]]; then kubectl_ --request-timeout=3s delete node "$name" >/dev/null 2>&1 || true; fi
  # Whatever the kubelet left: tasks are killed, then containers and sandboxes removed.
  if [[ -S "$sock" ]] && alive "$state/run/containerd.pid"; then remove_containers; fi
  stop_pid_file "$state/run/containerd.pid"
  # Shims of this containerd (they outlive it by design) and any process still in the node's pod cgroups.
  local pid
  for pid in $(grep -lsF -- "$sock" /proc/[0-9]*/cmdline | cut -d/ -f3); do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in $(cat /sys/fs/cgroup/*/kubepods/cgroup.procs /sys/fs/cgroup/*/kubepods/*/cgroup.procs \
      /sys/fs/cgroup/*/kubepods/*/*/cgroup.procs /sys/fs/cgroup/*/kubepods/*/*/*/cgroup.procs 2>/dev/null | sort -u); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  # Mounts under the state dir (the kubelet's bind mount of its root dir, emptyDirs, overlay rootfs), deepest first.
  local m
  for m in $(findmnt -rn -o TARGET | grep -F "$state/" | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
  # Network namespaces the node's sandboxes left (containerd names them cni-<id>).
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-' || true); do
    grep -qx "$ns" "$state/host/netns" 2>/dev/null || ip netns delete "$ns" 2>/dev/null || true
  done
  delete_chains iptables
  delete_chains ip6tables
  # kube-proxy's packet counters (nfacct objects), free once the rules that use them are gone.
  local acct
  for acct in ct_state_invalid_dropped_pkts localhost_nps_accepted_pkts; do
    command -v nfacct >/dev/null || break
    grep -qxF "$acct" "$state/host/nfacct" 2>/dev/null || nfacct del "$acct" >/dev/null 2>&1 || true
  done
  if [[ -n "$bridge" ]] && ip link show "$bridge" >/dev/null 2>&1; then ip link delete "$bridge"; fi
  ! ip link show cni-podman0 >/dev/null 2>&1 || ip link delete cni-podman0
  local h
  for h in /sys/fs/cgroup/*/kubepods; do [[ ! -d "$h" ]] || find "$h" -depth -type d -exec rmdir {} + 2>/dev/null || true; done
  restore_sysctls
  local p
  for p in "${HOST_PATHS[@]}"; do
    grep -qxF "$p" "$state/host/preexisting" 2>/dev/null && continue
    # /run/containerd is shared by every containerd on the machine; leave it to one that still runs.
    if [[ "$p" == /run/containerd ]] && pgrep -x containerd >/dev/null; then continue; fi
    rm -rf "$p"
  done
  # Logs stay for a post-mortem; everything else the node made goes.
  find "$state" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
  log "node $name down in $(since "$t0"); logs kept in $state/logs"
}

# SIGKILLs the kubelet, as a crash, and after [down-seconds] (default 0) starts it again with the command line it
# had: containerd, the containers and kube-proxy keep running, and the new kubelet adopts them. The chaos run's
# kill of the node agent.
restart_kubelet() { # [down-seconds]
  local f="$state/run/kubelet.pid" pid argv=() healthz
  alive "$f" || { log "no kubelet runs from $state"; exit 1; }
  pid="$(cat "$f")"
  mapfile -d '' argv < "/proc/$pid/cmdline"
  kill -KILL "$pid"
  # Gone, or a zombie nobody reaps (its port is free either way).
  wait_until 10 "kubelet $pid to die" bash -c "[[ ! -e /proc/$pid ]] || grep -q '^[0-9]* (.*) Z' /proc/$pid/stat"
  sleep "${1:-0}"
  start_daemon kubelet "${argv[@]}"
  healthz="$(sed -n 's/^healthzPort: //p' "$state/kubelet/config.yaml")"
  wait_until 60 "the kubelet's health" curl -sf "http://127.0.0.1:$healthz/healthz" || { tail -20 "$state/logs/kubelet.log"; exit 1; }
  restore_sysctls
  log "kubelet $pid killed; pid $(cat "$f") serves again"
}

case "$cmd" in
  up) [[ $# -eq 3 ]] || usage; up "$3" ;;
  down) [[ $# -eq 2 ]] || usage; down ;;
  import) shift 2; import_images "$@" ;;
  restart-kubelet) [[ $# -le 3 ]] || usage; restart_kubelet "${3:-0}" ;;
  *) usage ;;
esac
