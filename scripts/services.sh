#!/usr/bin/env bash
# Starts, stops and restarts the seven services for `make up`, each instance with its log in
# .run/logs and its pid in .run/pids.
#
#   services.sh start REPLICAS    start every instance that is not running
#   services.sh stop [SERVICE]    stop all services, or every instance of one
#   services.sh restart SERVICE REPLICAS
set -euo pipefail
cd "$(dirname "$0")/.."
run=.run
services=(gateway router orchestrator realtime ingestion analytics billing)
bin=${SWITCHYARD_BIN:-$run/bin}

# Operations ports: 28180 + the service's position, + 10 per further replica.
ops_port() {
  local service=$1 instance=$2 index=0
  for s in "${services[@]}"; do [ "$s" = "$service" ] && break; index=$((index + 1)); done
  echo $((28180 + index + 10 * (instance - 1)))
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_instance() {
  local service=$1 instance=$2 upper
  upper=$(echo "$service" | tr '[:lower:]' '[:upper:]')
  local pidfile="$run/pids/$service-$instance.pid" logfile="$run/logs/$service-$instance.log"
  running "$pidfile" && return 0
  (
    set -a
    # shellcheck disable=SC1091
    . "$run/infra.env"
    # shellcheck disable=SC1091
    [ -f "$run/services.env" ] && . "$run/services.env"
    set +a
    export SWITCHYARD_INSTANCE="$service-$instance"
    export SWITCHYARD_CATALOG="${SWITCHYARD_CATALOG:-$PWD/catalog.example.yaml}"
    export "SWITCHYARD_${upper}_OPS_PORT=$(ops_port "$service" "$instance")"
    export SWITCHYARD_GATEWAY_PORT=$((28080 + instance - 1))
    export SWITCHYARD_REALTIME_PORT=$((28090 + instance - 1))
    # A session of its own: Ctrl-C in `make run` reaches the script, which stops services in order.
    exec setsid nohup "$bin/$service" >>"$logfile" 2>&1 </dev/null
  ) &
  echo $! >"$pidfile"
}

stop_instance() {
  local pidfile=$1
  if running "$pidfile"; then
    local pid; pid=$(cat "$pidfile")
    kill -TERM "$pid"
    # Graceful: in-flight work finishes; after 20 s it is killed.
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$pidfile"
}

wait_live() {
  local service=$1 instance=$2 port
  port=$(ops_port "$service" "$instance")
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1 && return 0
    running "$run/pids/$service-$instance.pid" || break
    sleep 0.1
  done
  echo "services: $service-$instance did not start; see $run/logs/$service-$instance.log" >&2
  tail -n 5 "$run/logs/$service-$instance.log" >&2
  return 1
}

start() {
  local replicas=$1
  mkdir -p "$run/logs" "$run/pids"
  for service in "${services[@]}"; do
    for instance in $(seq 1 "$replicas"); do start_instance "$service" "$instance"; done
  done
  for service in "${services[@]}"; do
    for instance in $(seq 1 "$replicas"); do wait_live "$service" "$instance"; done
  done
}

stop() {
  local only=${1:-}
  for pidfile in "$run"/pids/*-[0-9]*.pid; do
    [ -e "$pidfile" ] || continue
    local name; name=$(basename "$pidfile" .pid)
    [ -n "$only" ] && [ "${name%-*}" != "$only" ] && continue
    stop_instance "$pidfile"
  done
}

case "${1:-}" in
  start) start "${2:-1}" ;;
  stop) stop "${2:-}" ;;
  restart)
    [[ " ${services[*]} " == *" ${2:-} "* ]] || { echo "SERVICE must be one of: ${services[*]}" >&2; exit 2; }
    # As many instances as run now (REPLICAS when none does), one after the other, so the
    # service keeps answering while it restarts.
    count=$(find "$run/pids" -name "$2-[0-9]*.pid" 2>/dev/null | wc -l)
    [ "$count" -gt 0 ] || count=${3:-1}
    mkdir -p "$run/logs" "$run/pids"
    for instance in $(seq 1 "$count"); do
      stop_instance "$run/pids/$2-$instance.pid"
      start_instance "$2" "$instance"
      wait_live "$2" "$instance"
    done
    ;;
  ops-port) ops_port "$2" "$3" ;;
  *) echo "usage: $0 start REPLICAS | stop [SERVICE] | restart SERVICE REPLICAS" >&2; exit 2 ;;
esac
