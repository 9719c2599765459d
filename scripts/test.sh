#!/usr/bin/env bash
# `make test`: its own PostgreSQL, Redis and NATS on free ports under .run-test (a running
# `make run` is untouched), migrations, then `swift test`. Stops what it started, pass or fail.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.run-test

bash scripts/infra.sh down "$dir" 2>/dev/null || true
rm -rf "$dir"
export SWITCHYARD_PG_PORT=${SWITCHYARD_TEST_PG_PORT:-55532}
export SWITCHYARD_REDIS_PORT=${SWITCHYARD_TEST_REDIS_PORT:-56479}
export SWITCHYARD_NATS_PORT=${SWITCHYARD_TEST_NATS_PORT:-54322}
export SWITCHYARD_PICK_FREE_PORTS=1 SWITCHYARD_PG_FAST=1
trap 'bash scripts/infra.sh down "$dir"' EXIT
bash scripts/infra.sh up "$dir"

set -a
# shellcheck disable=SC1091
. "$dir/infra.env"
set +a
export SWITCHYARD_TEST_ROOT=$PWD
export SWITCHYARD_CATALOG=$PWD/catalog.example.yaml

swift build --build-tests ${SWIFT_BUILD_FLAGS:-}
"$(swift build --show-bin-path ${SWIFT_BUILD_FLAGS:-})/switchyard" migrate
swift test --skip-build ${SWIFT_BUILD_FLAGS:-} "$@"
