#!/usr/bin/env bash
# Interop suite: the built user service checked from the outside with tools that share no
# code with it — grpcurl (server reflection, no .proto files), grpc-health-probe, curl on
# the admin port, and a Python grpcio client — once on the embedded database (PGlite,
# in memory) and once on PostgreSQL (a fresh database).
#
# Needs a build (`npm run build`; `npm test` builds too) and the tools from
# .ci/install.sh. Runs alone: `bash .ci/interop.sh`. Environment:
#   INTEROP_GRPC_PORT / INTEROP_ADMIN_PORT  ports for the service (default 50151 / 9191)
#   INTEROP_DATABASE_URL   Postgres URL for the second run; default: a fresh database
#                          `trellis_interop` on the local cluster (started if needed)
#   INTEROP_BACKENDS       which runs, default "embedded postgres"
#   INTEROP_SUMMARY_FILE   if set, the summary line is also written there
#   INTEROP_GRPCURL_SOURCE "reflection" (default): grpcurl learns the API from the server;
#                          "protos": the CRUD calls read the .proto files instead (a
#                          diagnostic, to tell reflection bugs from RPC-semantics bugs)
# Prints one `ok - ...` / `FAIL - ...` line per check, then `interop: N passed, M failed`.
set -uo pipefail
# shellcheck source=.ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CI_ROOT" || exit 1

GRPC_PORT="${INTEROP_GRPC_PORT:-50151}"
ADMIN_PORT="${INTEROP_ADMIN_PORT:-9191}"
SHUTDOWN_DELAY_MS=1500
ADDR="127.0.0.1:$GRPC_PORT"
SVC=trellis.user.v1.UserService
PY="$CI_VENV/bin/python"

GRPCURL_SOURCE_ARGS=()
if [ "${INTEROP_GRPCURL_SOURCE:-reflection}" = protos ]; then
  GRPCURL_SOURCE_ARGS=(-import-path packages/api/proto -import-path packages/kit/proto
    -proto trellis/user/v1/user.proto)
  echo "note: INTEROP_GRPCURL_SOURCE=protos: the grpcurl CRUD calls use the .proto files, not reflection"
fi

PASS=0
FAIL=0
PY_PASS=0
PY_FAIL=0
SVC_PID=""
WORK="$(mktemp -d -t trellis-interop.XXXXXX)"

ok() {
  PASS=$((PASS + 1))
  echo "ok - ${LABEL:+[$LABEL] }$*"
}
fail() {
  FAIL=$((FAIL + 1))
  echo "FAIL - ${LABEL:+[$LABEL] }$*"
}
indent() { sed 's/^/      /'; }
# check GOT WANT DESCRIPTION [DETAIL]
check() {
  if [ "$1" = "$2" ]; then ok "$3 -> $2"; else
    fail "$3: expected $2, got $1"
    [ -z "${4:-}" ] || indent <<<"$4"
  fi
}

summary() {
  local line
  line="interop: $((PASS + PY_PASS)) passed, $((FAIL + PY_FAIL)) failed"
  echo
  echo "$line"
  if [ -n "${INTEROP_SUMMARY_FILE:-}" ]; then
    printf '%s\n' "$line" >"$INTEROP_SUMMARY_FILE"
  fi
}

stop_service() {
  # Stops the service this script started, if it is still running.
  if [ -n "$SVC_PID" ] && kill -0 "$SVC_PID" 2>/dev/null; then
    kill -TERM "$SVC_PID" 2>/dev/null
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 "$SVC_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SVC_PID" 2>/dev/null
    wait "$SVC_PID" 2>/dev/null
  fi
  SVC_PID=""
}

cleanup() {
  stop_service
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

json_get() {
  # json_get PATH: read JSON on stdin, print the value at the dotted PATH ("" if absent).
  # Each key matches its proto name or its lowerCamelCase JSON name (grpcurl prints one or
  # the other depending on the descriptors the server's reflection returns).
  node -e '
    const fs = require("fs");
    let v;
    try { v = JSON.parse(fs.readFileSync(0, "utf8")); } catch { process.exit(0); }
    const camel = (k) => k.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
    for (const k of process.argv[1].split(".")) v = v == null ? undefined : (v[k] ?? v[camel(k)]);
    if (v !== undefined && v !== null) process.stdout.write(typeof v === "object" ? JSON.stringify(v) : String(v));
  ' "$1"
}

# call METHOD JSON: grpcurl one UserService method; sets OUT (stdout+stderr) and CODE (a
# grpcurl status name: OK, NotFound, ...). grpcurl exits 0 on OK and 64+code on an RPC
# error, printing "Code: <Name>".
call() {
  local rc
  OUT="$(grpcurl -plaintext -max-time 10 "${GRPCURL_SOURCE_ARGS[@]}" -d "$2" "$ADDR" "$SVC/$1" 2>&1)"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    CODE=OK
  else
    CODE="$(printf '%s\n' "$OUT" | sed -n 's/^ *Code: *//p' | head -n 1)"
    [ -n "$CODE" ] || CODE="no status (grpcurl exit $rc)"
  fi
}

# expect CODE DESCRIPTION METHOD JSON
expect() {
  call "$3" "$4"
  if [ "$CODE" = "$1" ]; then
    ok "$2 -> $1"
    return 0
  fi
  fail "$2: expected $1, got $CODE"
  printf '%s\n' "$OUT" | head -n 20 | indent
  return 1
}

http_status() { curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT$1"; }

probe() { grpc-health-probe -addr="$ADDR" -connect-timeout=2s -rpc-timeout=2s "$@"; }

start_service() {
  # start_service ENV...: start the user service with the given extra environment.
  local log="$WORK/user-$LABEL.log"
  if port_busy "$GRPC_PORT" || port_busy "$ADMIN_PORT"; then
    fail "ports $GRPC_PORT/$ADMIN_PORT are free (something else listens there; set INTEROP_GRPC_PORT/INTEROP_ADMIN_PORT)"
    return 1
  fi
  env -u DATABASE_URL -u PGLITE_DATA_DIR \
    GRPC_PORT="$GRPC_PORT" ADMIN_PORT="$ADMIN_PORT" SHUTDOWN_DELAY_MS="$SHUTDOWN_DELAY_MS" \
    LOG_LEVEL=warn "$@" node services/user/dist/main.js >"$log" 2>&1 &
  SVC_PID=$!
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$SVC_PID" 2>/dev/null; then
      wait "$SVC_PID"
      fail "service started (it exited with status $? before serving); its output:"
      tail -n 30 "$log" | indent
      SVC_PID=""
      return 1
    fi
    if probe >/dev/null 2>&1; then
      ok "service up: grpc-health-probe -addr=$ADDR reports SERVING"
      return 0
    fi
    sleep 0.5
  done
  fail "service up: grpc-health-probe -addr=$ADDR did not report SERVING within 30 s; its output:"
  tail -n 30 "$log" | indent
  stop_service
  return 1
}

check_reflection() {
  local out
  if out="$(grpcurl -plaintext -max-time 10 "$ADDR" list 2>&1)"; then
    local s
    for s in "$SVC" grpc.health.v1.Health; do
      if grep -qx "$s" <<<"$out"; then ok "reflection list includes $s"; else
        fail "reflection list includes $s"
        indent <<<"$out"
      fi
    done
    if grep -qxE 'grpc\.reflection\.v1(alpha)?\.ServerReflection' <<<"$out"; then
      ok "reflection list includes grpc.reflection.v1(alpha).ServerReflection"
    else
      fail "reflection list includes grpc.reflection.v1(alpha).ServerReflection"
      indent <<<"$out"
    fi
  else
    fail "grpcurl list via server reflection"
    indent <<<"$out"
  fi
  if out="$(grpcurl -plaintext -max-time 10 "$ADDR" describe "$SVC" 2>&1)" &&
    grep -q 'rpc CreateUser' <<<"$out" && grep -q 'rpc WatchUsers' <<<"$out"; then
    ok "grpcurl describe $SVC"
  else
    fail "grpcurl describe $SVC"
    head -n 20 <<<"$out" | indent
  fi
  if out="$(grpcurl -plaintext -max-time 10 "$ADDR" describe trellis.user.v1.CreateUserRequest 2>&1)" &&
    grep -q 'display_name' <<<"$out"; then
    ok "grpcurl describe trellis.user.v1.CreateUserRequest (message types resolve)"
  else
    fail "grpcurl describe trellis.user.v1.CreateUserRequest"
    head -n 20 <<<"$out" | indent
  fi
  # The custom options travel with the descriptors (a re-encoding reflection drops them).
  if grep -q 'trellis.validate.v1.field' <<<"$out" && grep -q 'email: true' <<<"$out"; then
    ok "grpcurl describe trellis.user.v1.CreateUserRequest shows its (trellis.validate.v1.field) rules"
  else
    fail "grpcurl describe trellis.user.v1.CreateUserRequest shows its (trellis.validate.v1.field) rules"
    head -n 30 <<<"$out" | indent
  fi
  # grpcurl learns the reflection service's own request type by reflection: this works only
  # when the server describes itself with the canonical grpc/reflection/v1/reflection.proto.
  if out="$(grpcurl -plaintext -max-time 10 -d '{"list_services":""}' "$ADDR" \
    grpc.reflection.v1.ServerReflection/ServerReflectionInfo 2>&1)" &&
    grep -q "\"$SVC\"" <<<"$out" && grep -q 'listServicesResponse' <<<"$out"; then
    ok "grpcurl -d '{\"list_services\":\"\"}' grpc.reflection.v1.ServerReflection/ServerReflectionInfo lists $SVC"
  else
    fail "grpcurl -d '{\"list_services\":\"\"}' grpc.reflection.v1.ServerReflection/ServerReflectionInfo lists $SVC"
    head -n 20 <<<"$out" | indent
  fi
}

check_health() {
  local out rc
  if out="$(probe 2>&1)"; then ok "grpc-health-probe (service \"\") -> SERVING"; else
    fail "grpc-health-probe (service \"\"): exit $?"
    indent <<<"$out"
  fi
  if out="$(probe -service="$SVC" 2>&1)"; then ok "grpc-health-probe -service=$SVC -> SERVING"; else
    fail "grpc-health-probe -service=$SVC: exit $?"
    indent <<<"$out"
  fi
  out="$(probe -service=trellis.nope.v1.Nope 2>&1)"
  rc=$?
  # Health spec: Check for an unknown service fails with NOT_FOUND; the probe exits 3.
  if [ "$rc" -eq 3 ] && grep -q 'NotFound' <<<"$out"; then
    ok "grpc-health-probe -service=<unknown> -> NOT_FOUND"
  else
    fail "grpc-health-probe -service=<unknown>: expected exit 3 with NotFound, got exit $rc"
    indent <<<"$out"
  fi
  local code
  code="$(http_status /healthz)"
  check "$code" 200 "admin GET /healthz"
  code="$(http_status /readyz)"
  check "$code" 200 "admin GET /readyz"
}

check_crud() {
  local id etag etag2 user_json
  if ! expect OK "CreateUser ada@example.com" CreateUser \
    '{"email":"ada@example.com","display_name":"Ada","roles":["ROLE_ADMIN"]}'; then
    fail "CRUD sequence skipped: CreateUser failed"
    return
  fi
  id="$(json_get user.id <<<"$OUT")"
  etag="$(json_get user.etag <<<"$OUT")"
  if [ -n "$id" ] && [ -n "$etag" ]; then ok "CreateUser returns user.id and user.etag"; else
    fail "CreateUser returns user.id and user.etag"
    indent <<<"$OUT"
  fi
  expect AlreadyExists "CreateUser same email, other case (ADA@Example.COM)" CreateUser \
    '{"email":"ADA@Example.COM","display_name":"Ada again"}'
  if expect OK "GetUser $id" GetUser "{\"id\":\"$id\"}"; then
    user_json="$(json_get user <<<"$OUT")"
    if [ "$(json_get email <<<"$user_json")" = ada@example.com ] &&
      [ "$(json_get display_name <<<"$user_json")" = Ada ] &&
      [ "$(json_get roles <<<"$user_json")" = '["ROLE_ADMIN"]' ]; then
      ok "GetUser returns what CreateUser stored"
    else
      fail "GetUser returns what CreateUser stored"
      indent <<<"$OUT"
    fi
  fi
  expect NotFound "GetUser random UUID" GetUser \
    "{\"id\":\"$(node -p 'crypto.randomUUID()')\"}"
  expect InvalidArgument "GetUser id=not-a-uuid" GetUser '{"id":"not-a-uuid"}'
  # grpcurl parses requests with golang/protobuf's jsonpb, which does not know FieldMask's
  # string form ("update_mask":"displayName"): it takes the message form {"paths":[...]}.
  local update="{\"user\":{\"id\":\"$id\",\"display_name\":\"Ada L.\",\"etag\":\"$etag\"},\"update_mask\":{\"paths\":[\"display_name\"]}}"
  if expect OK "UpdateUser display_name with current etag" UpdateUser "$update"; then
    etag2="$(json_get user.etag <<<"$OUT")"
    if [ "$(json_get user.display_name <<<"$OUT")" = "Ada L." ] && [ -n "$etag2" ] &&
      [ "$etag2" != "$etag" ]; then
      ok "UpdateUser applies the change and returns a new etag"
    else
      fail "UpdateUser applies the change and returns a new etag (old etag $etag)"
      indent <<<"$OUT"
    fi
  fi
  expect Aborted "UpdateUser again with the old etag" UpdateUser "$update"
  if expect OK "ListUsers {}" ListUsers '{}'; then
    if grep -q "\"$id\"" <<<"$OUT"; then ok "ListUsers returns the created user"; else
      fail "ListUsers returns the created user"
      head -n 20 <<<"$OUT" | indent
    fi
  fi
  expect InvalidArgument "ListUsers page_size=-1" ListUsers '{"page_size":-1}'
  expect InvalidArgument "ListUsers page_token=garbage" ListUsers '{"page_token":"garbage"}'
  expect InvalidArgument "CreateUser invalid email" CreateUser \
    '{"email":"not-an-email","display_name":"X"}'
  # grpcurl resolves methods through reflection, so it cannot send an unknown method;
  # the Python client checks UNIMPLEMENTED with a raw call instead.
  expect OK "DeleteUser $id" DeleteUser "{\"id\":\"$id\"}"
  expect NotFound "GetUser after delete" GetUser "{\"id\":\"$id\"}"
  expect NotFound "DeleteUser again" DeleteUser "{\"id\":\"$id\"}"
}

PYGEN=""
gen_python_stubs() {
  [ -n "$PYGEN" ] && return 0
  local out
  PYGEN="$WORK/pygen"
  mkdir -p "$PYGEN"
  if out="$("$PY" -m grpc_tools.protoc -I packages/api/proto -I packages/kit/proto \
    --python_out="$PYGEN" --grpc_python_out="$PYGEN" \
    packages/api/proto/trellis/user/v1/user.proto \
    packages/kit/proto/trellis/validate/v1/validate.proto 2>&1)"; then
    ok "python stubs generated with grpc_tools.protoc"
  else
    fail "python stubs generated with grpc_tools.protoc"
    indent <<<"$out"
    PYGEN=""
    return 1
  fi
}

check_python() {
  if [ ! -x "$PY" ]; then
    fail "python client: no venv at $CI_VENV (run .ci/install.sh)"
    return
  fi
  gen_python_stubs || return
  local out rc last p f line
  out="$("$PY" clients/python/crud_roundtrip.py "$ADDR" --gen-dir "$PYGEN" 2>&1)"
  rc=$?
  while IFS= read -r line; do printf '  [%s] python: %s\n' "$LABEL" "$line"; done <<<"$out"
  last="$(grep -E '^python client: [0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)"
  if [ -n "$last" ]; then
    p="$(sed -E 's/^python client: ([0-9]+) passed.*/\1/' <<<"$last")"
    f="$(sed -E 's/^python client: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$last")"
    PY_PASS=$((PY_PASS + p))
    PY_FAIL=$((PY_FAIL + f))
  fi
  if [ "$rc" -ne 0 ] && { [ -z "$last" ] || [ "${f:-0}" -eq 0 ]; }; then
    fail "python client exited with status $rc"
  fi
}

check_shutdown() {
  # SIGTERM: health must turn NOT_SERVING (probe exit 4) while the service still answers
  # during SHUTDOWN_DELAY_MS, /readyz must say 503, and the process must exit 0.
  local start rc out seen_4="" ready="" i
  kill -TERM "$SVC_PID"
  start=$SECONDS
  for ((i = 0; i < 12; i++)); do
    out="$(grpc-health-probe -addr="$ADDR" -connect-timeout=300ms -rpc-timeout=300ms 2>&1)"
    rc=$?
    if [ "$rc" -eq 4 ]; then
      seen_4=1
      break
    fi
    sleep 0.05
  done
  if [ -n "$seen_4" ]; then
    ok "after SIGTERM grpc-health-probe reports NOT_SERVING (exit 4): $out"
  else
    fail "after SIGTERM grpc-health-probe should report NOT_SERVING (exit 4) within the ${SHUTDOWN_DELAY_MS} ms delay; last: exit $rc: $out"
  fi
  out="$(probe -service="$SVC" -connect-timeout=300ms -rpc-timeout=300ms 2>&1)"
  rc=$?
  check "$rc" 4 "after SIGTERM grpc-health-probe -service=$SVC exit status (4 = NOT_SERVING)" "$out"
  ready="$(http_status /readyz)"
  check "$ready" 503 "after SIGTERM admin GET /readyz"
  local deadline=$((start + 20))
  while kill -0 "$SVC_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if kill -0 "$SVC_PID" 2>/dev/null; then
    fail "service exits within 20 s of SIGTERM (still running; killing it)"
    tail -n 20 "$WORK/user-$LABEL.log" | indent
    stop_service
    return
  fi
  wait "$SVC_PID"
  rc=$?
  SVC_PID=""
  if [ "$rc" -eq 0 ]; then
    ok "service exits with status 0 after SIGTERM ($((SECONDS - start)) s)"
  else
    fail "service exits with status 0 after SIGTERM: got $rc; its output:"
    tail -n 20 "$WORK/user-$LABEL.log" | indent
  fi
}

run_backend() {
  LABEL=$1
  shift
  echo
  echo "--- interop: user service on $LABEL ---"
  start_service "$@" || return
  check_reflection
  check_health
  check_crud
  check_python
  check_shutdown
  if [ -s "$WORK/user-$LABEL.log" ] && grep -qiE '"level":(50|60)|"level":"(error|fatal)"' "$WORK/user-$LABEL.log"; then
    echo "  note: the service logged errors during the $LABEL run:"
    grep -iE '"level":(50|60)|"level":"(error|fatal)"' "$WORK/user-$LABEL.log" | head -n 10 | indent
  fi
}

# --- preflight --------------------------------------------------------------------------
LABEL=""
missing=""
for t in grpcurl grpc-health-probe node curl; do
  command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
  fail "tools on PATH:$missing missing (run .ci/install.sh)"
  summary
  exit 1
fi
if [ ! -f services/user/dist/main.js ]; then
  fail "services/user/dist/main.js exists (build first: npm run build)"
  summary
  exit 1
fi

for backend in ${INTEROP_BACKENDS:-embedded postgres}; do
  case "$backend" in
    embedded)
      run_backend embedded PGLITE_DATA_DIR=memory://
      ;;
    postgres)
      url="${INTEROP_DATABASE_URL:-}"
      if [ -z "$url" ]; then
        LABEL=postgres
        if ci_pg_start >"$WORK/pg.log" 2>&1 && url="$(ci_pg_fresh_db trellis_interop 2>>"$WORK/pg.log")"; then
          ok "fresh PostgreSQL database trellis_interop on 127.0.0.1:$CI_PG_PORT"
        else
          fail "fresh PostgreSQL database for the interop run"
          indent <"$WORK/pg.log"
          continue
        fi
      fi
      run_backend postgres DATABASE_URL="$url"
      ;;
    *)
      LABEL=""
      fail "unknown backend '$backend' in INTEROP_BACKENDS"
      ;;
  esac
done
LABEL=""

summary
[ $((FAIL + PY_FAIL)) -eq 0 ]
