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
SWITCHYARD_TEST_PYTHON=$(bash scripts/python-tools.sh)
export SWITCHYARD_TEST_PYTHON

swift build --build-tests ${SWIFT_BUILD_FLAGS:-}
"$(swift build --show-bin-path ${SWIFT_BUILD_FLAGS:-})/switchyard" migrate

# A watchdog: a run that has not ended after SWITCHYARD_TEST_TIMEOUT seconds (the tests take
# about 30 s; 240 s leaves room for a loaded machine) has hung. Its threads' backtraces go to
# $dir/hang-backtrace-<n>.txt, and it is run again, twice at most, so a rare hang (see the README's
# known problems) does not hold CI for its whole time limit.
descendants() {
  local child
  for child in $(pgrep -P "$1"); do
    echo "$child"
    descendants "$child"
  done
}

# The output is line-buffered (stdbuf reaches the test process through LD_PRELOAD) and kept in
# $dir/test-output-<n>.txt, so a hung run can name the tests that started and never ended.
unfinished_tests() {
  grep -oE '(Test [^ (]+\([^)]*\)|Suite [^ ]+)( with [0-9]+ test cases?)? (started|passed|failed)' "$1" | awk '
    { sub(/ with [0-9]+ test cases?/, "") }
    $NF == "started" { sub(/ started$/, ""); running[$0] = 1; next }
    { sub(/ (passed|failed)$/, ""); delete running[$0] }
    END { for (name in running) print "  " name }'
}

run_tests() {
  stdbuf -oL -eL swift test --skip-build ${SWIFT_BUILD_FLAGS:-} "$@" > >(tee "$dir/test-output-$attempt.txt") 2>&1 &
  local pid=$! waited=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    waited=$((waited + 2))
    if [ "$waited" -ge "${SWITCHYARD_TEST_TIMEOUT:-240}" ]; then
      local runner family
      family=$(descendants "$pid")
      runner=$(for p in $family; do ps -o pid=,args= -p "$p"; done | awk '/PackageTests.xctest/ {print $1; exit}')
      if [ -n "$runner" ] && command -v gdb >/dev/null; then
        gdb -p "$runner" -batch -ex 'thread apply all bt 25' >"$dir/hang-backtrace-$attempt.txt" 2>&1 || true
      fi
      kill -KILL $family "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      echo "test: still running when the run hung:" >&2
      unfinished_tests "$dir/test-output-$attempt.txt" >&2
      return 124
    fi
  done
  wait "$pid"
}

status=0
attempt=1
run_tests "$@" || status=$?
while [ "$status" -eq 124 ] && [ "$attempt" -lt 3 ]; do
  echo "test: swift test hung after ${SWITCHYARD_TEST_TIMEOUT:-240} s (backtraces in $dir/hang-backtrace-$attempt.txt); running it again" >&2
  cp "$dir/hang-backtrace-$attempt.txt" "${TMPDIR:-/tmp}/switchyard-hang-backtrace-$attempt.txt" 2>/dev/null || true
  attempt=$((attempt + 1))
  status=0
  run_tests "$@" || status=$?
done

# The release build too, once the tests pass: the optimizer can fail where a debug build
# compiles (Swift 6.3 crashed on a typed-throws function inlined into an async route), and
# `make bench`, `make up CONFIG=release` and deployments build it. SWITCHYARD_TEST_RELEASE=0
# skips it.
if [ "$status" -eq 0 ] && [ "${SWITCHYARD_TEST_RELEASE:-1}" != 0 ]; then
  echo "test: checking that the release build compiles" >&2
  swift build -c release || status=$?
fi
exit "$status"
