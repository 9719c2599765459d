#!/usr/bin/env bash
# Makes the Python environment the tests use (the OpenAI SDK, …) under .build/python-tools, from
# PyPI, and reinstalls it when Tests/Fixtures/python/requirements.txt changes. Prints its python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/python-tools
requirements=Tests/Fixtures/python/requirements.txt
stamp="$venv/requirements.sha256"
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "python-tools: installing $(grep -v '^#' "$requirements" | xargs) into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  echo "$wanted" >"$stamp"
fi
echo "$PWD/$venv/bin/python"
