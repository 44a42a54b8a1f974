# Pins for the tools the project builds; sourced by hack/*.sh and read by src/testing (BF_TOOLS_BIN).
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.0
HELM_VERSION=v3.21.4
# The node: containerd from its Go module (Debian's 1.6 is past its end of life and the 1.37 kubelet only falls
# back for it), and KWOK for scale benchmarks with simulated nodes.
CONTAINERD_VERSION=v2.2.9
KWOK_VERSION=v0.8.0
# Cluster DNS for the real node's pods (the chart's Services are reached by name).
COREDNS_VERSION=v1.15.0
_bf_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The directory is keyed by the Kubernetes module pins only; every binary in it also has a stamp of its own pin
# (<name>.pin, written by build-k8s-tools.sh), so a new or bumped tool rebuilds that tool alone.
_bf_key="$(cat "$_bf_here/tools/k8s/go.mod" "$_bf_here/tools/k8s/go.sum" | sha256sum | cut -c1-12)"
BF_TOOLS_BIN="${BF_TOOLS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/browserfleet/k8s-$K8S_VERSION-$_bf_key/bin}"
export K8S_VERSION ETCD_VERSION HELM_VERSION CONTAINERD_VERSION KWOK_VERSION COREDNS_VERSION BF_TOOLS_BIN
