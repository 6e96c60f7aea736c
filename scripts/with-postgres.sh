#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL server: initdb in a temporary directory, the server
# on a Unix socket there (fsync and synchronous_commit on), a database `ledger`, then the command
# with MEMBER_LEDGER_PG_URL naming it (and ML_PG_BIN, ML_PG_DIR, ML_PG_USER for psql); the server
# is stopped and the directory removed when the command ends. Installs Debian's postgresql when no
# initdb is found. Fails loudly when the server cannot start.
#
#   scripts/with-postgres.sh cargo bench --features postgres --bench appends   (runs from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."

find_initdb() {
  if command -v initdb >/dev/null 2>&1; then
    command -v initdb
    return 0
  fi
  ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1
}

INITDB="$(find_initdb || true)"
if [ -z "$INITDB" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "with-postgres: no initdb, and not root to install Debian's postgresql" >&2
    exit 1
  fi
  echo "with-postgres: installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  INITDB="$(find_initdb || true)"
fi
if [ -z "$INITDB" ] || [ ! -x "$INITDB" ]; then
  echo "with-postgres: initdb not found after installing postgresql" >&2
  exit 1
fi
PG_BIN="$(dirname "$(readlink -f "$INITDB")")"

# PostgreSQL refuses to run as root: as root, the server runs as nobody.
if [ "$(id -u)" = 0 ]; then
  PG_USER=nobody
  as_pg() { (cd "$PG_DIR" && runuser -u "$PG_USER" -- "$@"); }
else
  PG_USER="$(id -un)"
  as_pg() { (cd "$PG_DIR" && "$@"); }
fi

# Short path: the socket's full name must fit in 107 bytes.
PG_DIR="$(mktemp -d /tmp/ml-pg.XXXXXX)"
if [ "$(id -u)" = 0 ]; then
  chown "$PG_USER" "$PG_DIR"
fi
stop_server() {
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DIR"
}
trap stop_server EXIT

echo "with-postgres: $("$PG_BIN/postgres" --version) in $PG_DIR as $PG_USER"
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" -A trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 || {
  cat "$PG_DIR/initdb.log" >&2
  echo "with-postgres: initdb failed" >&2
  exit 1
}
if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
  -o "-k $PG_DIR -c listen_addresses='' -c max_connections=64 -c fsync=on -c synchronous_commit=on" start; then
  cat "$PG_DIR/server.log" >&2 || true
  echo "with-postgres: the PostgreSQL server did not start" >&2
  exit 1
fi
"$PG_BIN/createdb" -h "$PG_DIR" -U "$PG_USER" ledger

export MEMBER_LEDGER_PG_URL="postgresql://$PG_USER@/ledger?host=$PG_DIR"
export ML_PG_BIN="$PG_BIN" ML_PG_DIR="$PG_DIR" ML_PG_USER="$PG_USER"
"$@"
