#!/usr/bin/env bash
# deploy/compose under podman, as a user runs it (deploy/compose/up.sh), on CI's host ports
# (29601-29605, 127.0.0.1) and project name; then deploy/compose/test/compose.test.mjs calls
# the system through the edge and asks Consul, Prometheus, Jaeger and Elasticsearch what they
# saw. Always brought down at the end. Each phase prints its duration.
set -uo pipefail
# shellcheck source=.ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CI_ROOT" || exit 1

export TRELLIS_COMPOSE_PROJECT=trellis-ci
export TRELLIS_EDGE_HOST_PORT=29601 TRELLIS_CONSUL_HOST_PORT=29602 TRELLIS_JAEGER_HOST_PORT=29603 \
  TRELLIS_PROMETHEUS_HOST_PORT=29604 TRELLIS_ELASTICSEARCH_HOST_PORT=29605
TRELLIS_COMPOSE_LOGS="$(mktemp -d)"
export TRELLIS_COMPOSE_LOGS

down() { bash deploy/compose/up.sh --down; }
trap down EXIT

t0=$SECONDS
rc=0
if bash deploy/compose/up.sh; then
  echo "=== compose up: $((SECONDS - t0)) s"
  t1=$SECONDS
  TRELLIS_EDGE_URL="http://127.0.0.1:$TRELLIS_EDGE_HOST_PORT" TRELLIS_CONSUL_URL="http://127.0.0.1:$TRELLIS_CONSUL_HOST_PORT" \
    TRELLIS_JAEGER_URL="http://127.0.0.1:$TRELLIS_JAEGER_HOST_PORT" TRELLIS_PROMETHEUS_URL="http://127.0.0.1:$TRELLIS_PROMETHEUS_HOST_PORT" \
    TRELLIS_ELASTICSEARCH_URL="http://127.0.0.1:$TRELLIS_ELASTICSEARCH_HOST_PORT" \
    timeout -k 10 600 node --test deploy/compose/test/compose.test.mjs || rc=1
  echo "=== compose test: $((SECONDS - t1)) s"
else
  rc=1
fi
if [ "$rc" -ne 0 ]; then
  ci_err "compose failed; the last lines of each container's log:"
  for c in $(podman ps -a --filter "label=io.podman.compose.project=$TRELLIS_COMPOSE_PROJECT" --format '{{.Names}}'); do
    echo "--- $c" >&2
    podman logs --tail 15 "$c" >&2 2>&1
  done
  podman ps -a --filter "label=io.podman.compose.project=$TRELLIS_COMPOSE_PROJECT" --format '  {{.Names}}  {{.Status}}' >&2
fi
exit "$rc"
