#!/usr/bin/env bash
# Builds Trellis' base images from Debian packages, for machines that cannot pull from a
# registry (CI here): mmdebstrap makes each root filesystem, `podman import` turns it into an
# image. Each tarball is cached under $TRELLIS_IMAGE_CACHE by Debian release (the point
# release named in the suite's Release file, e.g. trixie 13.8) and by its recipe's hash, so
# a rebuild happens only when Debian publishes a point release or this file changes.
#
#   localhost/trellis/node-runtime:<rel>  nodejs and its libraries, CA bundle, tzdata; no shell,
#                                         no package manager; user nonroot (65532); node at
#                                         /nodejs/bin/node like distroless' (the Containerfile's
#                                         ENTRYPOINT works on both)
#   localhost/trellis/node-build:<rel>    minbase + nodejs + npm: the Containerfile's build stages
#   localhost/trellis/static:<rel>        base-files, CA bundle, tzdata, netbase; no shell: for the
#                                         Go binaries (Consul, Jaeger, the collector, Prometheus)
#   localhost/trellis/postgres:<rel>      minbase + postgresql (third-party services need a shell)
#   localhost/trellis/java:<rel>          minbase + a headless JRE: Elasticsearch
#
# Usage: deploy/docker/build-bases.sh [name...]   (default: all); prints "name image" lines.
# Needs root (mmdebstrap, rootful podman). On a machine that can pull, skip this entirely:
# the Containerfile builds FROM public images by default.
set -euo pipefail

SUITE="${TRELLIS_DEBIAN_SUITE:-trixie}"
MIRROR="${TRELLIS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${TRELLIS_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trellis-ci/images}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

release="$(curl -fsS --max-time 30 "$MIRROR/dists/$SUITE/Release" | sed -n 's/^Version: //p')"
[ -n "$release" ] || { echo "build-bases: cannot read the $SUITE point release from $MIRROR" >&2; exit 1; }
tag="$SUITE-$release"

# Hooks run by mmdebstrap on the tree ("$1" is its root; extract mode runs extract hooks only,
# the others customize hooks). Extract mode runs
# no maintainer script, so what postinst would do is done here: the CA bundle from the
# certificates the package ships, a passwd/group with root and nonroot (65532, as distroless).
accounts='printf "root:x:0:0:root:/root:/nonexistent\nnonroot:x:65532:65532:nonroot:/home/nonroot:/nonexistent\n" >"$1/etc/passwd";
  printf "root:x:0:\nnonroot:x:65532:\n" >"$1/etc/group";
  mkdir -p "$1/home/nonroot" "$1/tmp"; chown 65532:65532 "$1/home/nonroot"; chmod 1777 "$1/tmp"'
ca_bundle='mkdir -p "$1/etc/ssl/certs"; cat "$1"/usr/share/ca-certificates/mozilla/*.crt >"$1/etc/ssl/certs/ca-certificates.crt"'
# What no process in these images reads: documentation, manuals, translations, Debian's
# maintainer tools (debconf, dpkg-reconfigure), corepack.
slim='rm -rf "$1"/usr/share/doc/* "$1"/usr/share/man "$1"/usr/share/info "$1"/usr/share/locale "$1"/usr/share/lintian \
  "$1"/usr/share/nodejs/corepack "$1"/usr/bin/corepack "$1"/usr/bin/debconf* "$1"/usr/sbin/dpkg-* "$1"/usr/share/perl5/Debconf \
  "$1"/var/cache/debconf'

# build NAME VARIANT PACKAGES CHANGES... : cached tarball -> podman image localhost/trellis/NAME:TAG
build() {
  local name=$1 variant=$2 packages=$3
  shift 3
  local image="localhost/trellis/$name:$tag"
  local hooks=()
  if [ "$variant" = extract ]; then
    hooks+=(--extract-hook="$accounts" --extract-hook="$ca_bundle" --extract-hook="$slim")
    # The dpkg database stays: image scanners read it to list what is inside.
  else
    hooks+=(--customize-hook="$accounts")
  fi
  if [ "$name" = node-runtime ]; then
    hooks+=(--extract-hook='mkdir -p "$1/nodejs/bin"; ln -s /usr/bin/node "$1/nodejs/bin/node"')
  fi
  # The recipe's hash: a changed package list, hook or image setting makes a new tarball/image.
  local key tar
  key="$(printf '%s\n' "$variant" "$packages" "${hooks[@]}" "$@" | sha256sum | cut -c1-12)"
  tar="$CACHE/$name-$tag-$key.tar"
  if [ ! -s "$tar" ]; then
    mkdir -p "$CACHE"
    rm -f "$CACHE/$name-"*.tar  # earlier releases' tarballs
    echo "build-bases: mmdebstrap --variant=$variant $SUITE ($packages) -> $tar" >&2
    mmdebstrap --quiet --format=tar --variant="$variant" --include="$packages" "${hooks[@]}" "$SUITE" "$tar.tmp" "$MIRROR"
    mv "$tar.tmp" "$tar"
  fi
  if [ "$(podman image inspect --format '{{index .Labels "org.trellis.base-hash"}}' "$image" 2>/dev/null)" != "$key" ]; then
    local changes=(--change "LABEL org.trellis.base-hash=$key" --change "LABEL org.opencontainers.image.source=debian:$SUITE-$release")
    local c
    for c in "$@"; do changes+=(--change "$c"); done
    podman import "${changes[@]}" "$tar" "$image" >/dev/null
  fi
  echo "$name $image"
}

want=("$@")
[ "${#want[@]}" -gt 0 ] || want=(node-runtime node-build static postgres java)
for w in "${want[@]}"; do
  case "$w" in
    node-runtime) build node-runtime extract nodejs,base-files,ca-certificates,tzdata "USER 65532:65532" 'ENTRYPOINT ["/nodejs/bin/node"]' ;;
    node-build) build node-build minbase nodejs,npm,ca-certificates "CMD [\"/bin/sh\"]" ;;
    static) build static extract base-files,ca-certificates,tzdata,netbase "USER 65532:65532" ;;
    postgres) build postgres minbase postgresql,ca-certificates "CMD [\"/bin/sh\"]" ;;
    java) build java minbase openjdk-21-jre-headless,ca-certificates "CMD [\"/bin/sh\"]" ;;
    *) echo "build-bases: unknown base '$w' (node-runtime node-build static postgres java)" >&2; exit 2 ;;
  esac
done
