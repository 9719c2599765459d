# Switchyard: `make run` starts everything on this machine; `make test` runs every test.
# Ports, replicas and build configuration are variables: make up REPLICAS=2 CONFIG=release
.PHONY: run up down restart test test-asan bench migrate infra-up infra-down deps build logs

REPLICAS ?= 1
CONFIG ?= debug
export REPLICAS CONFIG

run:
	@bash scripts/run.sh

up:
	@bash scripts/up.sh

down:
	@bash scripts/services.sh stop
	@bash scripts/infra.sh down .run

restart:
	@test -n "$(SERVICE)" || { echo "usage: make restart SERVICE=billing"; exit 2; }
	@bash scripts/build.sh "$(SERVICE)"
	@bash scripts/services.sh restart "$(SERVICE)" "$(REPLICAS)"

# Chromium renders the dashboard page in its test.
test: deps
	@bash scripts/install-deps.sh chromium fonts-dejavu-core
	@bash scripts/test.sh

# The bus, Redis and consumer tests built with AddressSanitizer (and LeakSanitizer) in a build
# folder of their own; the first run rebuilds every dependency (about 10 minutes).
test-asan: deps
	@LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan-suppressions.txt \
	  SWIFT_BUILD_FLAGS="--sanitize=address --scratch-path .build-asan" \
	  bash scripts/test.sh --filter 'EventStreamTests|RequestReplyTests|BusConnectionTests|ExactlyOnceTests|RedisTests'

# The gateway path against the upstream alone and behind nginx, in one run, with release
# builds; results in bench/results. PROFILE=1 adds a perf profile of the gateway and router.
PROFILE ?= 0
bench: deps
	@bash scripts/install-deps.sh wrk nginx-light linux-perf
	@PROFILE=$(PROFILE) python3 bench/run.py

migrate: deps infra-up
	@swift build -c $(CONFIG) --product switchyard
	@set -a && . .run/infra.env && set +a && "$$(swift build -c $(CONFIG) --show-bin-path)/switchyard" migrate

infra-up: deps
	@bash scripts/infra.sh up .run

infra-down:
	@bash scripts/infra.sh down .run

deps:
	@bash scripts/install-deps.sh

build: deps
	@swift build -c $(CONFIG)

logs:
	@tail -n 50 -F .run/logs/*.log
