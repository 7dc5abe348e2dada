#!/usr/bin/env bash
# Drop the per-test databases (testum_t_<uuid>) that a PostgreSQL test run created.
set -euo pipefail
url=${1:?usage: drop-test-databases.sh postgres://user@host:port}
psql "$url/postgres" -tAc "select datname from pg_database where datname like 'testum_t_%'" |
  while read -r db; do psql -q "$url/postgres" -c "drop database if exists \"$db\" with (force)"; done
