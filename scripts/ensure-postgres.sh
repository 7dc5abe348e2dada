#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for user postgres (what
# the test suite's PostgreSQL run needs). On a machine without one: install Debian's package,
# allow trust auth from 127.0.0.1 only, and start the cluster. Fails loudly when impossible.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && psql -h 127.0.0.1 -U postgres -tAc 'select 1' >/dev/null 2>&1; }
ready && exit 0

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { echo "ensure-postgres: need root to install postgresql" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql postgresql-client
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
[ -n "$version" ] || { echo "ensure-postgres: no cluster in /etc/postgresql" >&2; exit 1; }
hba=/etc/postgresql/$version/main/pg_hba.conf
if ! grep -q '^host all postgres 127.0.0.1/32 trust' "$hba"; then
  # First matching line wins: put ours first. Loopback only.
  sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
for _ in $(seq 50); do ready && exit 0; sleep 0.2; done
echo "ensure-postgres: PostgreSQL does not answer on 127.0.0.1:5432" >&2
exit 1
