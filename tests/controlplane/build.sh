#!/usr/bin/env bash
# Builds the Kubernetes control plane the `controlplane` tests start (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kwok) from their Go source modules, pinned by the
# wrapper modules beside this script (kube/, etcd/, kwok/: one go.mod + go.sum each, with
# `tool` directives naming the main packages).
#
# The binaries land in a cache directory keyed by a hash of the pinned versions (every
# wrapper go.mod and go.sum), the Go version and this script, and are reused while the key
# holds. Go's own build and module caches (GOCACHE, GOMODCACHE) are left where they are, so
# a rebuild after a version bump only compiles what changed.
#
# Usage:
#   tests/controlplane/build.sh          build if needed, print the bin directory
#   tests/controlplane/build.sh --print  print the bin directory without building
#
# Beside bin/, crds/ holds the Gateway API HTTPRoute CRD of the pinned Gateway API release.
#
# Reusing the pattern for another Go tool (say a signing tool for the supply-chain tests):
# add a directory with a go.mod that `require`s the module at a pinned version and names
# its main package in a `tool` directive, run `go mod tidy` there, and call
# `build_tools DIR BIN_DIR [LDFLAGS]` below (or add DIR to WRAPPERS).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WRAPPERS=(etcd kwok kube)
KUBE_VERSION="v1.36.3"
# The Gateway API CRDs (HTTPRoute) come from their Go module's config/crd directory.
GATEWAY_API_VERSION="v1.6.3"
GATEWAY_API_CRDS=(gateway.networking.k8s.io_httproutes.yaml)

# -X flags the Kubernetes release build sets, so the binaries report their real version.
kube_ldflags() {
  local major minor
  major="${KUBE_VERSION#v}"; major="${major%%.*}"
  minor="${KUBE_VERSION#v*.}"; minor="${minor%%.*}"
  local flags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=${major}"
    flags+=" -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean"
  done
  echo "$flags"
}

cache_key() {
  {
    go version
    cat "${BASH_SOURCE[0]}"
    for w in "${WRAPPERS[@]}"; do cat "$HERE/$w/go.mod" "$HERE/$w/go.sum"; done
  } | sha256sum | cut -c1-16
}

# build_tools DIR BIN_DIR [EXTRA_LDFLAGS]: builds every `tool` of the wrapper module in DIR
# into BIN_DIR in one `go build`, so shared packages compile once.
build_tools() {
  local dir="$1" bin="$2" extra="${3:-}"
  (
    cd "$dir"
    CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath \
      -ldflags="-s -w${extra}" -o "$bin/" tool
  )
}

# module_dir MODULE VERSION: the module's source directory in GOMODCACHE (downloaded and
# checked against the checksum database when missing).
module_dir() {
  go mod download -json "$1@$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'
}

copy_crds() {
  local out="$1" dir
  dir="$(cd / && module_dir sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION")"
  mkdir -p "$out"
  for f in "${GATEWAY_API_CRDS[@]}"; do cp "$dir/config/crd/standard/$f" "$out/$f"; done
}

main() {
  local base="${MLROLLOUT_CONTROLPLANE_CACHE:-${MLROLLOUT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlrollout}/controlplane}"
  local out
  out="$base/$(cache_key)"
  if [ "${1:-}" = "--print" ]; then echo "$out/bin"; return 0; fi
  if [ -x "$out/bin/kube-apiserver" ] && [ -f "$out/complete" ]; then
    echo "$out/bin"; return 0
  fi
  command -v go >/dev/null || { echo "build.sh: go is not installed" >&2; return 1; }
  local start tmp
  start=$(date +%s)
  tmp="$(mktemp -d "$base.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$base"; mktemp -d "$base.tmp.XXXXXX"; })"
  trap 'rm -rf "$tmp"' EXIT
  for w in "${WRAPPERS[@]}"; do
    echo "build.sh: building $w ($(date -u +%H:%M:%S))" >&2
    if [ "$w" = kube ]; then
      build_tools "$HERE/$w" "$tmp/bin" "$(kube_ldflags)"
    else
      build_tools "$HERE/$w" "$tmp/bin"
    fi
  done
  copy_crds "$tmp/crds"
  # etcd's main package is its server module's root (go.etcd.io/etcd/server/v3): go names
  # the binary "server".
  mv "$tmp/bin/server" "$tmp/bin/etcd"
  echo "built in $(( $(date +%s) - start ))s with $(go version | cut -d' ' -f3) on $(nproc) cores" \
    > "$tmp/complete"
  mkdir -p "$base"
  rm -rf "$out"
  mv "$tmp" "$out"
  trap - EXIT
  echo "build.sh: $(cat "$out/complete")" >&2
  echo "$out/bin"
}

main "$@"
