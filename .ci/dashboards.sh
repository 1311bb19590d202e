#!/usr/bin/env bash
# Dashboards and alert rules, checked without a server (`bash .ci/dashboards.sh`, or the CI
# step "dashboards"):
#   1. drift: `npm run dashboards` regenerates deploy/grafana/dashboards/*.json (and
#      queries.json) and deploy/prometheus/rules/*.yml from deploy/grafana/src; any change
#      or new file there fails the check (commit the regenerated files).
#   2. promtool check rules on the rule files (syntax, PromQL, templates).
#   3. promtool check rules on a throwaway rule file holding every dashboard query (the
#      dashboard variables substituted), so every shipped PromQL expression parses.
#   4. promtool test rules on deploy/prometheus/tests/*.test.yml: each burn-rate and
#      saturation alert fires on a bad series and stays silent on a healthy one.
# Needs promtool (Debian's prometheus package; .ci/install.sh installs it).
set -uo pipefail
# shellcheck source=.ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CI_ROOT" || exit 1

GENERATED=(deploy/grafana/dashboards deploy/prometheus/rules)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
rc=0

if ! command -v promtool >/dev/null 2>&1; then
  ci_err "promtool is not installed (Debian package prometheus; run .ci/install.sh)"
  exit 1
fi
echo "$(promtool --version 2>&1 | sed -n 1p)"

echo "--- 1. npm run dashboards (drift)"
if ! npm run --silent dashboards -- "--parse-check=$TMP/promql-parse-check.yml"; then
  ci_err "npm run dashboards failed"
  exit 1
fi
changed="$(git status --porcelain --untracked-files=all -- "${GENERATED[@]}")"
if [ -n "$changed" ]; then
  ci_err "dashboards or rules are out of date: 'npm run dashboards' changed these files:"
  printf '%s\n' "$changed" | sed 's/^/    /' >&2
  git --no-pager diff --stat -- "${GENERATED[@]}" >&2
  echo "  Run 'npm run dashboards' and commit the result (edit deploy/grafana/src, not the output)." >&2
  rc=1
else
  echo "dashboards and rules are up to date (${GENERATED[*]})"
fi

echo "--- 2. promtool check rules deploy/prometheus/rules/*.yml"
promtool check rules deploy/prometheus/rules/*.yml || rc=1

echo "--- 3. every shipped PromQL expression parses"
if promtool check rules "$TMP/promql-parse-check.yml" >"$TMP/parse.log" 2>&1; then
  echo "$(grep -o '[0-9]* rules found' "$TMP/parse.log") in deploy/grafana/dashboards/queries.json: all parse"
else
  ci_err "a dashboard or rule expression does not parse (rule trellis_parse_check_<n> is queries.json's entry n):"
  cat "$TMP/parse.log" >&2
  rc=1
fi

echo "--- 4. promtool test rules deploy/prometheus/tests/*.test.yml"
passed=0
failed=0
for t in deploy/prometheus/tests/*.test.yml; do
  if promtool test rules "$t"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    rc=1
  fi
done
echo "rule unit test files: $passed passed, $failed failed"
exit "$rc"
