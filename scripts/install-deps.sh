#!/usr/bin/env bash
# Installs the Debian packages Switchyard needs to build and run, when any is missing.
set -euo pipefail

# Arguments name further packages a target needs (`make bench`: wrk, nginx-light, linux-perf).
packages=(nats-server redis-server redis-tools postgresql libhiredis-dev pkg-config curl python3 python3-venv poppler-utils "$@")
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
