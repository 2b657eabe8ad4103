#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those missing (idempotent).
# Nothing is needed yet beyond Python itself; services (PostgreSQL, Chromium) join here.
set -euo pipefail
packages=()
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "system-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade "${missing[@]}"
fi
