#!/usr/bin/env bash
# Starts and stops PostgreSQL, Redis and NATS (JetStream) on 127.0.0.1 with their data under one
# folder, for `make run` (.run) and `make test` (.run-test).
#
#   infra.sh up DIR       start what is not running; write DIR/infra.env with the URLs
#   infra.sh down DIR     stop what DIR's pid files name
#   infra.sh postgres-up DIR PORT        one PostgreSQL alone with Switchyard's roles; prints its URLs
#   infra.sh postgres-start DIR PORT | postgres-stop DIR    start or stop that PostgreSQL again
#
# Ports come from SWITCHYARD_PG_PORT, SWITCHYARD_REDIS_PORT, SWITCHYARD_NATS_PORT (defaults in a
# quiet range). With SWITCHYARD_PICK_FREE_PORTS=1 a taken port is replaced by the next free one.
set -euo pipefail

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
# Debian puts nats-server in /usr/sbin, which a normal user's PATH may lack.
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}

log() { echo "infra: $*" >&2; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
  local port=$1
  if [ "${SWITCHYARD_PICK_FREE_PORTS:-0}" = 1 ]; then
    while port_in_use "$port"; do port=$((port + 1)); done
  fi
  echo "$port"
}

wait_for_port() {
  local name=$1 port=$2
  for _ in $(seq 1 100); do
    port_in_use "$port" && return 0
    sleep 0.1
  done
  log "$name did not open port $port; see its log"
  return 1
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# PostgreSQL refuses to run as root: as root it runs as the postgres user.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_start() {
  local dir=$1 port=$2 data="$1/postgres"
  mkdir -p "$dir"
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$data"
    as_postgres "$PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$dir/postgres-initdb.log"
  fi
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    # 300 connections: every service replica keeps a pool (20 by default), and the tests run
    # many pools at once; past the limit PostgreSQL refuses connections and callers wait.
    local options="-c listen_addresses=127.0.0.1 -p $port -k $data -c max_connections=300"
    [ "${SWITCHYARD_PG_FAST:-0}" = 1 ] && options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$data/postgres.log" -o "$options" -w -t 30 start >/dev/null
  fi
}

postgres_stop() {
  local data="$1/postgres"
  [ -f "$data/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# Roles: the owner runs migrations and owns the tables; the application role owns nothing and
# cannot bypass row-level security. Passwords are made once per data folder.
postgres_bootstrap() {
  local dir=$1 port=$2 secrets="$1/postgres-credentials.env"
  if [ ! -f "$secrets" ]; then
    (umask 077; {
      echo "OWNER_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
      echo "APP_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    } >"$secrets")
  fi
  # shellcheck disable=SC1090
  . "$secrets"
  as_postgres psql -q -h "$dir/postgres" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT format('CREATE ROLE switchyard_owner LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD %L', '$OWNER_PASSWORD')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'switchyard_owner') \gexec
SELECT format('CREATE ROLE switchyard_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD %L', '$APP_PASSWORD')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'switchyard_app') \gexec
SELECT 'CREATE DATABASE switchyard OWNER switchyard_owner'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'switchyard') \gexec
\c switchyard
ALTER SCHEMA public OWNER TO switchyard_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO switchyard_app;
SQL
  echo "DATABASE_URL=postgres://switchyard_app:$APP_PASSWORD@127.0.0.1:$port/switchyard"
  echo "DATABASE_OWNER_URL=postgres://switchyard_owner:$OWNER_PASSWORD@127.0.0.1:$port/switchyard"
}

redis_start() {
  local dir=$1 port=$2
  mkdir -p "$dir/redis" "$dir/pids" "$dir/logs"
  running "$dir/pids/redis.pid" && return 0
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir/redis" --daemonize yes \
    --pidfile "$dir/pids/redis.pid" --logfile "$dir/logs/redis.log" --save "" --appendonly no >/dev/null
  wait_for_port redis "$port"
}

nats_start() {
  local dir=$1 port=$2
  mkdir -p "$dir/nats" "$dir/pids" "$dir/logs"
  running "$dir/pids/nats.pid" && return 0
  setsid nohup "$NATS_SERVER" -a 127.0.0.1 -p "$port" -js -sd "$dir/nats" -P "$dir/pids/nats.pid" \
    -l "$dir/logs/nats.log" >/dev/null 2>&1 &
  wait_for_port nats "$port"
}

stop_pidfile() {
  local file=$1
  if running "$file"; then
    local pid; pid=$(cat "$file")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
}

up() {
  local dir; dir=$(realpath -m "$1")
  mkdir -p "$dir"
  # A running set keeps its ports: read them back rather than picking new ones.
  if [ -f "$dir/infra.env" ] && running "$dir/pids/nats.pid" && running "$dir/pids/redis.pid"; then
    # shellcheck disable=SC1091
    . "$dir/infra.env"
    postgres_start "$dir" "$SWITCHYARD_PG_PORT"
    return 0
  fi
  local pg_port redis_port nats_port
  pg_port=$(pick_port "${SWITCHYARD_PG_PORT:-25432}")
  redis_port=$(pick_port "${SWITCHYARD_REDIS_PORT:-26379}")
  nats_port=$(pick_port "${SWITCHYARD_NATS_PORT:-24222}")
  postgres_start "$dir" "$pg_port"
  redis_start "$dir" "$redis_port"
  nats_start "$dir" "$nats_port"
  local database_urls; database_urls=$(postgres_bootstrap "$dir" "$pg_port")
  {
    echo "SWITCHYARD_PG_PORT=$pg_port"
    echo "SWITCHYARD_REDIS_PORT=$redis_port"
    echo "SWITCHYARD_NATS_PORT=$nats_port"
    echo "$database_urls"
    echo "NATS_URL=nats://127.0.0.1:$nats_port"
    echo "REDIS_URL=redis://127.0.0.1:$redis_port"
    echo "PG_BIN=$PG_BIN"
    echo "NATS_SERVER=$NATS_SERVER"
  } >"$dir/infra.env"
  log "PostgreSQL :$pg_port, Redis :$redis_port, NATS :$nats_port (data in $dir)"
}

down() {
  local dir; dir=$(realpath -m "$1")
  stop_pidfile "$dir/pids/nats.pid"
  stop_pidfile "$dir/pids/redis.pid"
  postgres_stop "$dir"
}

case "${1:-}" in
  up) up "$2" ;;
  down) down "$2" ;;
  postgres-up) postgres_start "$(realpath -m "$2")" "$3" && postgres_bootstrap "$(realpath -m "$2")" "$3" ;;
  postgres-start) postgres_start "$(realpath -m "$2")" "$3" ;;
  postgres-stop) postgres_stop "$(realpath -m "$2")" ;;
  *) echo "usage: $0 up|down DIR | postgres-up|postgres-start DIR PORT | postgres-stop DIR" >&2; exit 2 ;;
esac
