#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server on 127.0.0.1 and DATABASE_URL set.
#   scripts/with-postgres.sh .venv/bin/python -m pytest
# Without the server binaries, or without root (initdb must run as the postgres user),
# the command runs without DATABASE_URL and the PostgreSQL tests skip, saying why.
set -euo pipefail
initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$initdb" ] || [ "$(id -u)" != 0 ] || [ -n "${DATABASE_URL:-}" ]; then
  [ -n "${DATABASE_URL:-}" ] || echo "with-postgres: no PostgreSQL server here; its tests will skip" >&2
  exec "$@"
fi
bin=$(dirname "$initdb")
port=${PGPORT_TEST:-54329}
data=$(mktemp -d /tmp/agentfund-pg.XXXXXX)
chown postgres: "$data"
stop() {
  runuser -u postgres -- "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap stop EXIT
runuser -u postgres -- "$bin/initdb" -D "$data" -U fund --auth=trust -E UTF8 --locale=C.UTF-8 \
  --no-sync >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $data -c fsync=off" start >/dev/null
runuser -u postgres -- "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U fund -d postgres \
  -c "CREATE DATABASE fund_test" >/dev/null
export DATABASE_URL="postgresql+psycopg://fund@127.0.0.1:$port/fund_test"
echo "with-postgres: $DATABASE_URL" >&2
"$@"
