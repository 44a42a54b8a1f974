#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and etcd from Go modules
# (hack/tools/k8s pins them) and helm with `go install`, into a cache outside git.
# Rebuilds only when a pin changes: the cache directory is keyed by a hash of the pins.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/tools-env.sh"   # sets K8S_VERSION, HELM_VERSION, BF_TOOLS_BIN

export GOTOOLCHAIN=local CGO_ENABLED=0
want=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd helm)
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

build_k8s() { # name package
  (cd "$here/tools/k8s" && go build -trimpath -ldflags "-s -w $ld" -o "$BF_TOOLS_BIN/$1.tmp" "$2")
  mv "$BF_TOOLS_BIN/$1.tmp" "$BF_TOOLS_BIN/$1"
  echo "tools: built $1 ($(( $(date +%s) - start ))s so far)"
}
for b in "${missing[@]}"; do
  case "$b" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) build_k8s "$b" "k8s.io/kubernetes/cmd/$b" ;;
    etcd) build_k8s etcd go.etcd.io/etcd/server/v3 ;;
    helm)
      hminor="${K8S_VERSION#v1.}"; hminor="${hminor%%.*}"
      GOBIN="$BF_TOOLS_BIN" go install -trimpath -ldflags "-s -w \
        -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
        -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
        -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$hminor" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
      echo "tools: built helm ($(( $(date +%s) - start ))s so far)" ;;
  esac
done
echo "tools: cold build took $(( $(date +%s) - start ))s"
