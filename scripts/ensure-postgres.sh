#!/usr/bin/env bash
# Makes sure a real PostgreSQL answers on 127.0.0.1:5432 with a superuser role "root" and a
# database "test", for the e2e pass against real PostgreSQL. Installs Debian's postgresql if
# missing and starts the cluster without systemd. Idempotent.
set -euo pipefail

log() { printf '[ensure-postgres] %s\n' "$*" >&2; }
PGHOST_ADDR=127.0.0.1
PGPORT_NUM=5432

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

version="$(ls /etc/postgresql | sort -V | tail -1)"
if ! pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM"; then
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 1 60); do
  pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM" && break
  sleep 0.5
done
pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM" || { log "PostgreSQL does not answer on $PGHOST_ADDR:$PGPORT_NUM"; exit 1; }

# The role and database the tests use; created through the local socket as the postgres user.
as_postgres() { su postgres -s /bin/sh -c "$1"; }
if ! as_postgres "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname = 'root'\"" | grep -q 1; then
  log "creating role root"
  as_postgres "psql -qc 'CREATE ROLE root SUPERUSER LOGIN'"
fi
if ! as_postgres "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\"" | grep -q 1; then
  log "creating database test"
  as_postgres "createdb -O root test"
fi
if ! psql -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U root -d test -tAc 'SELECT 1' >/dev/null 2>&1; then
  # A fresh Debian cluster asks for passwords over TCP; trust loopback for this test role only.
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  log "allowing role root on loopback without a password in $hba"
  sed -i '1i host test,postgres root 127.0.0.1/32 trust' "$hba"
  as_postgres "psql -qc 'SELECT pg_reload_conf()'"
fi
psql -h "$PGHOST_ADDR" -p "$PGPORT_NUM" -U root -d test -tAc 'SELECT 1' >/dev/null
log "PostgreSQL answers at postgres://root@$PGHOST_ADDR:$PGPORT_NUM/test"
