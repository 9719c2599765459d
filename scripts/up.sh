#!/usr/bin/env bash
# `make up`: everything on one machine, detached. Safe to run again while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
run=.run
replicas=${REPLICAS:-1}
mkdir -p "$run/bin" "$run/logs" "$run/pids"

bash scripts/install-deps.sh
bash scripts/infra.sh up "$run"

bash scripts/build.sh

set -a
# shellcheck disable=SC1091
. "$run/infra.env"
set +a
"$run/bin/switchyard" migrate

# The services' secrets are made once and kept, like the database passwords: the admin token,
# the realtime replicas' shared secret that seals event ids, and the one gateways sign realtime
# tickets with (each added to an older services.env that lacks it).
random_secret() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9'; }
if [ ! -f "$run/services.env" ]; then
  (umask 077; echo "SWITCHYARD_ADMIN_TOKEN=$(random_secret)" >"$run/services.env")
fi
for secret in SWITCHYARD_REALTIME_CURSOR_SECRET SWITCHYARD_REALTIME_TICKET_SECRET; do
  if ! grep -q "^$secret=" "$run/services.env"; then
    echo "$secret=$(random_secret)" >>"$run/services.env"
  fi
done

bash scripts/services.sh start "$replicas"

previous_key=$(sed -n 's/^SWITCHYARD_API_KEY=//p' "$run/switchyard.env" 2>/dev/null || true)
demo=$("$run/bin/switchyard" demo ${previous_key:+--keep-key "$previous_key"})

gateway_urls=""
for instance in $(seq 1 "$replicas"); do
  gateway_urls="${gateway_urls:+$gateway_urls,}http://127.0.0.1:$((28080 + instance - 1))"
done
{
  echo "# Written by make up; source it to talk to this installation."
  echo "SWITCHYARD_URL=http://127.0.0.1:28080"
  echo "SWITCHYARD_GATEWAY_URLS=$gateway_urls"
  echo "SWITCHYARD_REALTIME_URL=ws://127.0.0.1:28090/v1/realtime"
  echo "$demo"
  cat "$run/services.env"
  grep -E '^(NATS_URL|DATABASE_URL|REDIS_URL)=' "$run/infra.env"
  for service in gateway router orchestrator realtime ingestion analytics billing; do
    echo "SWITCHYARD_$(echo "$service" | tr '[:lower:]' '[:upper:]')_HEALTH_URL=http://127.0.0.1:$(bash scripts/services.sh ops-port "$service" 1)"
  done
} >"$run/switchyard.env.new"
chmod 600 "$run/switchyard.env.new"
mv -f "$run/switchyard.env.new" "$run/switchyard.env"

cat <<MSG

Switchyard is up ($replicas instance(s) of each service). Settings: $run/switchyard.env
Operator CLI: $run/bin/switchyard (reads the same variables)
Check it:
  curl -s http://127.0.0.1:$(bash scripts/services.sh ops-port gateway 1)/health/ready
Call it (or point an OpenAI SDK at base_url http://127.0.0.1:28080/v1):
  . $run/switchyard.env && curl -s \$SWITCHYARD_URL/v1/chat/completions -H "Authorization: Bearer \$SWITCHYARD_API_KEY" \\
    -H 'Content-Type: application/json' -d '{"model":"local-chat","messages":[{"role":"user","content":"Hello"}]}'
Follow the tenant's events (a WebSocket; see the README): \$SWITCHYARD_REALTIME_URL with the same key
MSG
