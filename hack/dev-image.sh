#!/usr/bin/env bash
# make dev's sidecar image for its dev loop: <base> (the app image `make images` built) with this checkout's
# compiled <dist-dir> copied over /app/dist, tagged <tag>. A few seconds, where the app image's own build (npm
# install, tsc and npm prune inside it) takes a minute or more: between two runs of `make images` only the compiled
# code changes. A change of package.json (new or updated npm packages) needs `make images` and a new make dev.
#
# Usage: hack/dev-image.sh <base-image> <tag> <dist-dir>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[[ $# -eq 3 ]] || { echo "usage: $0 <base-image> <tag> <dist-dir>" >&2; exit 2; }
base="$1" tag="$2" dist="$(realpath "$3")"
[[ -f "$dist/main.js" ]] || { echo "dev-image: $dist/main.js is missing: run make build" >&2; exit 2; }
source "$here/podman-env.sh"
containerfile="$BF_PODMAN_DIR/tmp/dev-image-$$.Containerfile"
cleanup() { rm -f "$containerfile"; bf_podman_remove_strays; }
trap cleanup EXIT
podman image exists "$base" || { echo "dev-image: $base is not in podman's store: run make images" >&2; exit 2; }
printf '%s\n' 'ARG BASE' 'FROM ${BASE}' 'COPY . /app/dist/' > "$containerfile"
old="$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
podman build --quiet --pull=never --layers --build-arg BASE="$base" -f "$containerfile" -t "$tag" "$dist" >/dev/null
new="$(podman image inspect --format '{{.Id}}' "$tag")"
# The build it replaces goes, so podman's store does not grow with every change.
[[ -z "$old" || "$old" == "$new" ]] || podman rmi "$old" >/dev/null 2>&1 || true
echo "$new"
