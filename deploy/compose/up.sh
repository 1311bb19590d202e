#!/usr/bin/env bash
# Trellis on one machine, one command:
#   deploy/compose/up.sh           build the images that are missing (no registry needed: see
#                                  build-images.sh; TRELLIS_COMPOSE_PUBLIC=1 uses the public
#                                  images instead), start everything, wait until the edge
#                                  answers through to the user service
#   deploy/compose/up.sh --down    stop and remove it all
# Then: curl -s http://127.0.0.1:8080/v1/users, Consul on :8500, Jaeger on :16686, Prometheus on
# :9090, Elasticsearch on :9200 (all 127.0.0.1; TRELLIS_*_HOST_PORT in compose.yaml move them).
# TRELLIS_COMPOSE_PROJECT names the project (default trellis); needs podman-compose on PATH or
# in .ci/.venv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/deploy/docker/containers.conf}"
export TRELLIS_COMPOSE_LOGS="${TRELLIS_COMPOSE_LOGS:-$here/.logs}"
project="${TRELLIS_COMPOSE_PROJECT:-trellis}"
pc="$(command -v podman-compose || echo "$root/.ci/.venv/bin/podman-compose")"
[ -x "$pc" ] || { echo "up.sh: podman-compose not found (pip install podman-compose)" >&2; exit 1; }
compose() { "$pc" --project-name "$project" -f "$here/compose.yaml" "$@"; }

if [ "${1:-}" = "--down" ]; then
  compose down -t 15 >/dev/null 2>&1 || true
  rm -rf "$TRELLIS_COMPOSE_LOGS"
  echo "trellis compose: down"
  exit 0
fi

t0=$SECONDS
if [ -z "${TRELLIS_COMPOSE_PUBLIC:-}" ]; then
  while IFS='=' read -r k v; do export "$k=$v"; done < <("$here/build-images.sh")
  echo "images ready in $((SECONDS - t0)) s"
fi
mkdir -p "$TRELLIS_COMPOSE_LOGS"
compose up -d >"$TRELLIS_COMPOSE_LOGS/compose-up.out" 2>&1 || { cat "$TRELLIS_COMPOSE_LOGS/compose-up.out" >&2; exit 1; }

# Ready when a call through the edge reaches a user instance (registered and passing in Consul).
url="http://127.0.0.1:${TRELLIS_EDGE_HOST_PORT:-8080}"
for ((i = 0; i < 180; i++)); do
  if curl -fsS --max-time 2 "$url/v1/users?page_size=1" >/dev/null 2>&1; then
    echo "trellis compose: up in $((SECONDS - t0)) s; the edge answers at $url"
    podman ps --filter "label=io.podman.compose.project=$project" --format '  {{.Names}}  {{.Image}}  {{.Status}}'
    exit 0
  fi
  sleep 1
done
echo "trellis compose: the edge did not answer within 180 s; containers:" >&2
podman ps -a --filter "label=io.podman.compose.project=$project" --format '  {{.Names}}  {{.Status}}' >&2
exit 1
