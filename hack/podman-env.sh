# Points podman at browserfleet's own state outside git (BF_PODMAN_DIR, default ~/.cache/browserfleet/podman)
# and writes the configuration this machine kind needs; sourced by hack/build-images.sh and hack/real-node.sh, and
# by a shell that wants to look at the images (`source hack/podman-env.sh; podman images`).
# What each setting is for, found on a Firecracker VM with hybrid cgroups (v1 controllers, hugetlb on cgroup2) and
# without CAP_SYS_RESOURCE:
# - runtime runc: crun 1.8 refuses hybrid cgroups ("cgroups in hybrid mode not supported").
# - default_ulimits: podman's own defaults (nofile 1048576) are above the hard limits here, and raising a limit
#   needs CAP_SYS_RESOURCE ("setrlimit RLIMIT_NOFILE: Operation not permitted").
# - cgroupfs: there is no systemd. cni: the network backend Debian's podman 4.3 has (builds use the host network,
#   so no bridge or firewall rule is made). No registries: every base image is made locally.
BF_PODMAN_DIR="${BF_PODMAN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/browserfleet/podman}"
mkdir -p "$BF_PODMAN_DIR/etc" "$BF_PODMAN_DIR/tmp" "$BF_PODMAN_DIR/cni"
cat > "$BF_PODMAN_DIR/etc/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$BF_PODMAN_DIR/events.log"
runtime = "runc"
tmp_dir = "$BF_PODMAN_DIR/run/libpod"
[network]
network_backend = "cni"
network_config_dir = "$BF_PODMAN_DIR/cni"
cni_plugin_dirs = ["/usr/lib/cni"]
EOF
cat > "$BF_PODMAN_DIR/etc/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$BF_PODMAN_DIR/storage"
runroot = "$BF_PODMAN_DIR/run/storage"
EOF
printf 'unqualified-search-registries = []\n' > "$BF_PODMAN_DIR/etc/registries.conf"
export BF_PODMAN_DIR CONTAINERS_CONF="$BF_PODMAN_DIR/etc/containers.conf" \
  CONTAINERS_STORAGE_CONF="$BF_PODMAN_DIR/etc/storage.conf" \
  CONTAINERS_REGISTRIES_CONF="$BF_PODMAN_DIR/etc/registries.conf" TMPDIR="$BF_PODMAN_DIR/tmp"

# Two paths podman 4.3 writes whatever its configuration says: runc's state dir and the blob-info cache. A script
# that sources this file calls bf_podman_remove_strays when it ends, which removes those that did not exist when
# it started, so the host keeps nothing of podman outside BF_PODMAN_DIR.
_bf_podman_strays=()
for _bf_p in /run/runc /var/lib/containers/cache/blob-info-cache-v1.boltdb /var/lib/containers/cache /var/lib/containers; do
  [[ -e "$_bf_p" ]] || _bf_podman_strays+=("$_bf_p")
done
bf_podman_remove_strays() {
  local p
  for p in "${_bf_podman_strays[@]}"; do
    if [[ -d "$p" ]]; then rmdir "$p" 2>/dev/null || true; else rm -f "$p"; fi
  done
}
