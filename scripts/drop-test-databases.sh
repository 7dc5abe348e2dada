#!/usr/bin/env bash
# Drop the per-test databases that a PostgreSQL test run created:
#   drop-test-databases.sh postgres://user@host:port [PREFIX]
# PREFIX (default `testum_t_`, every run's) is the start of their names; the Makefile passes
# `testum_t_<run>_` so that a run drops its own databases only (tests/it/app/mod.rs names them).
set -euo pipefail
url=${1:?usage: drop-test-databases.sh postgres://user@host:port [PREFIX]}
prefix=${2:-testum_t_}
[[ $prefix =~ ^[A-Za-z0-9_]+$ ]] || { echo "drop-test-databases.sh: bad prefix $prefix" >&2; exit 2; }
psql "$url/postgres" -tAc "select datname from pg_database where left(datname, length('$prefix')) = '$prefix'" |
  while read -r db; do psql -q "$url/postgres" -c "drop database if exists \"$db\" with (force)"; done
