#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kubelet and kube-proxy from Go
# modules (hack/tools/k8s pins them), helm, containerd (with its runc shim and ctr), kwok and CoreDNS with
# `go install`, and the pod sandbox's pause binary from the Kubernetes module's own pause.c, into a cache outside
# git. The cache directory is keyed by the Kubernetes module pins; each binary has a `<name>.pin` stamp of what
# it was built from, and only binaries whose stamp differs from pin_of (below) are built.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/tools-env.sh"   # the *_VERSION pins and BF_TOOLS_BIN

export GOTOOLCHAIN=local CGO_ENABLED=0
want=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd helm
      kubelet kube-proxy pause containerd containerd-shim-runc-v2 ctr kwok coredns)
# What a binary is built from. The Kubernetes module's binaries are pinned by the directory's key (go.mod/go.sum);
# a change to how one is built bumps its recipe number here.
pin_of() {
  case "$1" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|kubelet|kube-proxy|etcd) echo "k8s-module $K8S_VERSION r1" ;;
    pause) echo "pause.c $K8S_VERSION r1" ;;
    helm) echo "helm $HELM_VERSION r1" ;;
    containerd|containerd-shim-runc-v2|ctr) echo "containerd $CONTAINERD_VERSION r1" ;;
    kwok) echo "kwok $KWOK_VERSION r1" ;;
    coredns) echo "coredns $COREDNS_VERSION r1" ;;
    *) echo "build-k8s-tools: no pin for $1" >&2; exit 2 ;;
  esac
}
fresh() { [[ -x "$BF_TOOLS_BIN/$1" && "$(cat "$BF_TOOLS_BIN/$1.pin" 2>/dev/null)" == "$(pin_of "$1")" ]]; }
stamp() { for b in "$@"; do pin_of "$b" > "$BF_TOOLS_BIN/$b.pin"; done; }
missing=()
for b in "${want[@]}"; do fresh "$b" || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "tools: cached in $BF_TOOLS_BIN"
  exit 0
fi
mkdir -p "$BF_TOOLS_BIN"
start=$(date +%s)
echo "tools: building ${missing[*]} into $BF_TOOLS_BIN (cold build, takes minutes)"

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ld=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-$K8S_VERSION -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

done_msg() { # name started-at
  echo "tools: built $1 in $(( $(date +%s) - $2 ))s ($(( $(date +%s) - start ))s so far)"
}
build_k8s() { # name package
  local t0; t0=$(date +%s)
  (cd "$here/tools/k8s" && go build -trimpath -ldflags "-s -w $ld" -o "$BF_TOOLS_BIN/$1.tmp" "$2")
  mv "$BF_TOOLS_BIN/$1.tmp" "$BF_TOOLS_BIN/$1"
  stamp "$1"
  done_msg "$1" "$t0"
}
# containerd, its shim and ctr come from one module, so one `go install` builds the three. no_btrfs: the btrfs
# snapshotter needs cgo headers, and the node uses overlayfs.
build_containerd() {
  local t0; t0=$(date +%s) m=github.com/containerd/containerd/v2
  GOBIN="$BF_TOOLS_BIN" go install -trimpath -tags no_btrfs -ldflags "-s -w \
    -X $m/version.Version=${CONTAINERD_VERSION#v} -X $m/version.Revision=module-$CONTAINERD_VERSION" \
    "$m/cmd/containerd@$CONTAINERD_VERSION" "$m/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
    "$m/cmd/ctr@$CONTAINERD_VERSION"
  stamp containerd containerd-shim-runc-v2 ctr
  done_msg "containerd, containerd-shim-runc-v2, ctr" "$t0"
}
# The sandbox ("pause") container's binary, from the C source in the pinned k8s.io/kubernetes module, so the
# node needs no registry for its sandbox image. Static: the image holds nothing else.
build_pause() {
  local t0 src; t0=$(date +%s)
  src="$(cd "$here/tools/k8s" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
  gcc -Os -Wall -Werror -static -DVERSION="$K8S_VERSION-browserfleet" -o "$BF_TOOLS_BIN/pause.tmp" "$src"
  mv "$BF_TOOLS_BIN/pause.tmp" "$BF_TOOLS_BIN/pause"
  stamp pause
  done_msg pause "$t0"
}
for b in "${missing[@]}"; do
  case "$b" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|kubelet|kube-proxy)
      build_k8s "$b" "k8s.io/kubernetes/cmd/$b" ;;
    etcd) build_k8s etcd go.etcd.io/etcd/server/v3 ;;
    helm)
      t0=$(date +%s)
      hminor="${K8S_VERSION#v1.}"; hminor="${hminor%%.*}"
      GOBIN="$BF_TOOLS_BIN" go install -trimpath -ldflags "-s -w \
        -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
        -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
        -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$hminor" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
      stamp helm
      done_msg helm "$t0" ;;
    pause) build_pause ;;
    containerd|containerd-shim-runc-v2|ctr) fresh "$b" || build_containerd ;;
    kwok)
      t0=$(date +%s)
      GOBIN="$BF_TOOLS_BIN" go install -trimpath -ldflags "-s -w" \
        "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
      stamp kwok
      done_msg kwok "$t0" ;;
    coredns)
      # Only the plugins the node's Corefile uses would do, but trimming CoreDNS's plugin list means generating
      # its source; the whole binary costs a few minutes once per pin.
      t0=$(date +%s)
      GOBIN="$BF_TOOLS_BIN" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
      stamp coredns
      done_msg coredns "$t0" ;;
  esac
done
echo "tools: cold build took $(( $(date +%s) - start ))s"
