#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kubelet and kube-proxy from Go
# modules (hack/tools/k8s pins them), helm, containerd (with its runc shim and ctr) and kwok with `go install`,
# the pod sandbox's pause binary from the Kubernetes module's own pause.c, and SeaweedFS's weed (the local S3
# server for artifacts; hack/tools/seaweedfs pins it), into a cache outside git.
# Rebuilds only when a pin changes: the cache directory is keyed by a hash of the pins.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/tools-env.sh"   # sets K8S_VERSION, HELM_VERSION, CONTAINERD_VERSION, KWOK_VERSION, BF_TOOLS_BIN

export GOTOOLCHAIN=local CGO_ENABLED=0
want=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd helm
      kubelet kube-proxy pause containerd containerd-shim-runc-v2 ctr kwok weed)
missing=()
for b in "${want[@]}"; do [[ -x "$BF_TOOLS_BIN/$b" ]] || missing+=("$b"); done
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
  done_msg "containerd, containerd-shim-runc-v2, ctr" "$t0"
}
# The sandbox ("pause") container's binary, from the C source in the pinned k8s.io/kubernetes module, so the
# node needs no registry for its sandbox image. Static: the image holds nothing else.
build_pause() {
  local t0 src; t0=$(date +%s)
  src="$(cd "$here/tools/k8s" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
  gcc -Os -Wall -Werror -static -DVERSION="$K8S_VERSION-browserfleet" -o "$BF_TOOLS_BIN/pause.tmp" "$src"
  mv "$BF_TOOLS_BIN/pause.tmp" "$BF_TOOLS_BIN/pause"
  done_msg pause "$t0"
}
# weed's own module, not hack/tools/k8s: in one build list MVS would lift Kubernetes' shared dependencies to
# SeaweedFS's versions. A module of its own (not `go install @version`) because SeaweedFS's go.mod has a replace
# directive, which only the main module may carry.
build_weed() {
  local t0; t0=$(date +%s)
  (cd "$here/tools/seaweedfs" && go build -trimpath -ldflags "-s -w \
    -X github.com/seaweedfs/seaweedfs/weed/util/version.COMMIT=module-$SEAWEEDFS_VERSION" \
    -o "$BF_TOOLS_BIN/weed.tmp" github.com/seaweedfs/seaweedfs/weed)
  mv "$BF_TOOLS_BIN/weed.tmp" "$BF_TOOLS_BIN/weed"
  done_msg weed "$t0"
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
      done_msg helm "$t0" ;;
    pause) build_pause ;;
    containerd|containerd-shim-runc-v2|ctr) [[ -x "$BF_TOOLS_BIN/$b" ]] || build_containerd ;;
    kwok)
      t0=$(date +%s)
      GOBIN="$BF_TOOLS_BIN" go install -trimpath -ldflags "-s -w" \
        "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
      done_msg kwok "$t0" ;;
    weed) build_weed ;;
  esac
done
echo "tools: cold build took $(( $(date +%s) - start ))s"
