#!/bin/sh
# PostgreSQL from Debian's package, started the way the official image is configured:
# POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required), POSTGRES_DB (default: the
# user's name). The cluster is made on first start in PGDATA; the server runs as this
# image's user (nonroot, 65532), listens on every address, password (scram) over TCP.
set -eu
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
bin="$(echo /usr/lib/postgresql/*/bin)"
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  "$bin/initdb" -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --locale=C.UTF-8 --encoding=UTF8 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses= -c unix_socket_directories=/tmp" -w -s start
    "$bin/createdb" -h /tmp -U "$user" "$db"
    "$bin/pg_ctl" -D "$PGDATA" -w -s stop
  fi
  echo "postgres: cluster made in $PGDATA (user $user, database $db)"
fi
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp
