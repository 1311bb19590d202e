#!/usr/bin/env bash
# Builds every Trellis service image (or the ones named) with podman from deploy/docker/Containerfile.
#
#   deploy/docker/build-images.sh [--public] [service...]
#
# Default: the base images come from Debian packages (deploy/docker/build-bases.sh; no registry
# needed). --public: FROM the public node and distroless images instead (needs a registry).
# Images are tagged localhost/trellis/<service>:<TRELLIS_IMAGE_TAG> (default "dev"). Prints one
# "<service> <image> <size in bytes>" line per image.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
tag="${TRELLIS_IMAGE_TAG:-dev}"

public=""
if [ "${1:-}" = "--public" ]; then public=1; shift; fi
services=("$@")
if [ "${#services[@]}" -eq 0 ]; then
  for d in "$root"/services/*/; do
    [ -f "$d/main.ts" ] && services+=("$(basename "$d")")
  done
fi

# The machine's CA bundle goes to npm as a build secret (a TLS-intercepting proxy's CA is in it).
ca="${TRELLIS_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}"
args=()
[ -s "$ca" ] && args+=(--secret "id=ca,src=$ca")
if [ -z "$public" ]; then
  declare -A base
  while read -r name image; do base[$name]=$image; done < <("$here/build-bases.sh" node-build node-runtime)
  args+=(--build-arg "BUILD_IMAGE=${base[node-build]}" --build-arg "RUNTIME_IMAGE=${base[node-runtime]}")
fi

for s in "${services[@]}"; do
  image="localhost/trellis/$s:$tag"
  podman build --quiet --layers -f "$here/Containerfile" --build-arg "SERVICE=$s" "${args[@]}" -t "$image" "$root" >/dev/null
  echo "$s $image $(podman image inspect --format '{{.Size}}' "$image")"
done
