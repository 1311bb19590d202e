#!/usr/bin/env bash
# Builds every image deploy/compose/compose.yaml runs, without a registry:
#   - the Trellis services (user, chat, edge): deploy/docker/build-images.sh (Debian-made bases)
#   - PostgreSQL: Debian's postgresql on the minbase base, started like the official image
#   - Consul, Jaeger, the OpenTelemetry Collector: the binaries CI builds from their Go modules
#     (.ci/install.sh caches them under ~/.cache/trellis-ci), on the shell-less static base
#   - Prometheus: Debian's prometheus binary, on the static base
#   - Elasticsearch: Maven Central's integ-test zip (as CI runs it) on the Java base
# Each is tagged localhost/trellis/compose-<name>:dev, skipped when its inputs are unchanged
# (label org.trellis.inputs). Prints the variables compose.yaml reads, one per line
# (TRELLIS_<NAME>_IMAGE=...): `eval "$(deploy/compose/build-images.sh)"`, or let up.sh do it.
#
# Binaries can be named instead of CI's: CONSUL_BIN, JAEGER_BIN, OTELCOL_BIN, PROMETHEUS_BIN,
# ELASTICSEARCH_HOME. Needs root (rootful podman, mmdebstrap).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=.ci/lib.sh
. "$root/.ci/lib.sh"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/deploy/docker/containers.conf}"

consul_bin="${CONSUL_BIN:-$CI_CONSUL_BIN}"
jaeger_bin="${JAEGER_BIN:-$CI_JAEGER_BIN}"
otelcol_bin="${OTELCOL_BIN:-$(ci_collector_bin)}"
prometheus_bin="${PROMETHEUS_BIN:-$(command -v prometheus || true)}"
es_home="${ELASTICSEARCH_HOME:-$CI_ES_HOME}"
for f in "$consul_bin" "$jaeger_bin" "$otelcol_bin" "$prometheus_bin"; do
  [ -x "$f" ] || { echo "compose build: missing binary '$f' (run .ci/install.sh, or name it: see this file's header)" >&2; exit 1; }
done
[ -x "$es_home/bin/elasticsearch" ] || { echo "compose build: no Elasticsearch at '$es_home' (run .ci/install.sh or set ELASTICSEARCH_HOME)" >&2; exit 1; }

declare -A base
while read -r name image; do base[$name]=$image; done < <("$root/deploy/docker/build-bases.sh" static postgres java)

# image NAME CONTEXT: build CONTEXT/Containerfile as localhost/trellis/compose-NAME:dev unless an
# image with the same inputs exists. The inputs' key: the Containerfile, the files' sizes,
# times and names (hashing 200 MB binaries on every run would cost more than it saves).
image() {
  local name=$1 ctx=$2 img="localhost/trellis/compose-$1:dev" key
  key="$( (cat "$ctx/Containerfile"; find -L "$ctx" -type f -not -name Containerfile -printf '%P %s %T@\n' | sort) | sha256sum | cut -c1-16)"
  if [ "$(podman image inspect --format '{{index .Labels "org.trellis.inputs"}}' "$img" 2>/dev/null)" != "$key" ]; then
    echo "compose build: $img" >&2
    podman build --quiet --layers --label "org.trellis.inputs=$key" -t "$img" "$ctx" >/dev/null
  fi
  printf 'TRELLIS_%s_IMAGE=%s\n' "$(echo "$name" | tr '[:lower:]' '[:upper:]')" "$img"
}

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# binary NAME PATH: a static-base image whose entrypoint is the binary (so compose's `command`
# gives the same arguments as to the public image).
binary() {
  local name=$1 bin=$2 ctx="$scratch/$1"
  mkdir -p "$ctx"
  ln "$bin" "$ctx/$name" 2>/dev/null || cp -p "$bin" "$ctx/$name"
  cat >"$ctx/Containerfile" <<EOF
FROM ${base[static]}
COPY $name /usr/local/bin/$name
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/$name"]
EOF
  image "$name" "$ctx"
}

binary consul "$consul_bin"
binary jaeger "$jaeger_bin"
binary collector "$otelcol_bin"
binary prometheus "$prometheus_bin"

mkdir -p "$scratch/postgres"
cp -p "$here/images/postgres-entrypoint.sh" "$scratch/postgres/"
cat >"$scratch/postgres/Containerfile" <<EOF
FROM ${base[postgres]}
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
RUN mkdir -p /var/lib/postgresql/data && chown -R 65532:65532 /var/lib/postgresql && chmod 700 /var/lib/postgresql/data
USER 65532:65532
ENV PGDATA=/var/lib/postgresql/data
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
EOF
image postgres "$scratch/postgres"

mkdir -p "$scratch/elasticsearch"
cp -a "$es_home" "$scratch/elasticsearch/home"
cat >"$scratch/elasticsearch/home/config/elasticsearch.yml" <<EOF
cluster.name: trellis
discovery.type: single-node
network.host: 0.0.0.0
xpack.security.enabled: false
action.destructive_requires_name: false
EOF
touch -r "$es_home/config/elasticsearch.yml" "$scratch/elasticsearch/home/config/elasticsearch.yml"
java_home="$(podman run --rm --entrypoint /bin/sh "${base[java]}" -c 'dirname "$(dirname "$(readlink -f /usr/bin/java)")"')"
cat >"$scratch/elasticsearch/Containerfile" <<EOF
FROM ${base[java]}
COPY home /usr/share/elasticsearch
RUN mkdir -p /usr/share/elasticsearch/data /usr/share/elasticsearch/logs && \
    chown -R 65532:65532 /usr/share/elasticsearch/config /usr/share/elasticsearch/data /usr/share/elasticsearch/logs
WORKDIR /usr/share/elasticsearch
USER 65532:65532
ENV ES_JAVA_HOME=$java_home
ENTRYPOINT ["/usr/share/elasticsearch/bin/elasticsearch"]
EOF
image elasticsearch "$scratch/elasticsearch"

# The Trellis services.
while read -r service img _size; do
  printf 'TRELLIS_%s_IMAGE=%s\n' "$(echo "$service" | tr '[:lower:]' '[:upper:]')" "$img"
done < <("$root/deploy/docker/build-images.sh" user chat edge)
