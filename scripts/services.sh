#!/usr/bin/env bash
# Install (when missing, as root with apt) and start the production services on loopback:
# PostgreSQL 15 and Redis. Safe to run again: what runs already is left alone.
# Prints the environment to use them: DATABASE_URL=... REDIS_URL=...
set -euo pipefail

PG_PASSWORD=${PG_PASSWORD:-cobrowse}
REDIS_PORT=${REDIS_PORT:-6379}
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v pg_ctlcluster >/dev/null && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  else
    echo "missing: ${need[*]} (install them, e.g. apt-get install -y ${need[*]})" >&2
    exit 1
  fi
fi

if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
    --logfile /tmp/cobrowse-redis.log >&2
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
  pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 50); do su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break; sleep 0.2; done
su postgres -c "psql -qc \"ALTER USER postgres PASSWORD '$PG_PASSWORD'\"" >/dev/null
su postgres -c "psql -qAtc \"select 1 from pg_database where datname='cobrowse'\"" | grep -q 1 \
  || su postgres -c "createdb cobrowse" >&2
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')

echo "DATABASE_URL=postgres://postgres:${PG_PASSWORD}@127.0.0.1:${port}/cobrowse"
echo "REDIS_URL=redis://127.0.0.1:${REDIS_PORT}/0"
