#!/usr/bin/env bash
# Build the real cosign v3 CLI from its Go module, once per version.
#
# The binary is cached at ${XDG_CACHE_HOME:-~/.cache}/mlrollout/cosign/<version>/cosign (override
# the root with MLROLLOUT_CACHE, as for the control plane); a second run with the same version only prints the path. Prints the path
# of the binary on stdout as its last line; build logs and the measured build time go to
# stderr. Needs Go >= 1.24 and the Go module proxy.
set -euo pipefail

version="${COSIGN_VERSION:-v3.1.3}"
cache_root="${MLROLLOUT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlrollout}"
dest="$cache_root/cosign/$version"
binary="$dest/cosign"

if [ -x "$binary" ] && "$binary" version 2>/dev/null | grep -q "${version#v}"; then
  echo "$binary"
  exit 0
fi

command -v go >/dev/null || { echo "build-cosign: Go is not installed" >&2; exit 1; }
mkdir -p "$dest"
start=$(date +%s)
echo "build-cosign: building github.com/sigstore/cosign/v3/cmd/cosign@$version" >&2
GOBIN="$dest.tmp" CGO_ENABLED=0 go install -trimpath \
  "github.com/sigstore/cosign/v3/cmd/cosign@$version" >&2
mv "$dest.tmp/cosign" "$binary"
rmdir "$dest.tmp"
echo "build-cosign: built in $(( $(date +%s) - start )) s" >&2
echo "$binary"
