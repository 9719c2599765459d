#!/usr/bin/env bash
# Builds the executables (all of them, or the products named) in CONFIG (debug by default) and
# installs them into .run/bin, which is what `make up` runs: copies, so a rebuild while running
# does not change what runs.
set -euo pipefail
cd "$(dirname "$0")/.."
run=.run
configuration=${CONFIG:-debug}
products=("$@")
[ ${#products[@]} -gt 0 ] || products=(switchyard gateway router orchestrator realtime ingestion analytics billing)
mkdir -p "$run/bin" "$run/logs"

echo "Building ${products[*]} ($configuration; the first build takes several minutes)…"
arguments=(-c "$configuration")
[ $# -eq 1 ] && arguments+=(--product "$1")
if ! swift build "${arguments[@]}" >"$run/logs/build.log" 2>&1; then
  grep -E 'error:' "$run/logs/build.log" | head -n 20 >&2 || tail -n 30 "$run/logs/build.log" >&2
  echo "The build failed; the whole output is in $run/logs/build.log" >&2
  exit 1
fi
bin_path=$(swift build -c "$configuration" --show-bin-path)
for binary in "${products[@]}"; do
  install -m 0755 "$bin_path/$binary" "$run/bin/$binary.new" && mv -f "$run/bin/$binary.new" "$run/bin/$binary"
done
