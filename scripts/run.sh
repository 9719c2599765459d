#!/usr/bin/env bash
# `make run`: `make up`, then follow every service's log until Ctrl-C, which stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/up.sh
stop() {
  trap - INT TERM EXIT
  echo "Stopping Switchyard…"
  bash scripts/services.sh stop
  bash scripts/infra.sh down .run
}
trap stop INT TERM EXIT
echo "Following the logs; Ctrl-C stops everything."
tail -n 0 -F .run/logs/*.log &
wait $!
