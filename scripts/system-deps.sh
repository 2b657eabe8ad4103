#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those missing (idempotent).
#   postgresql: the journal-touching tests run against a real server (scripts/with-postgres.sh)
#   chromium:   the monitoring UI's browser test (Playwright drives /usr/bin/chromium)
#   g++, cmake: the llama extra builds llama.cpp (llama-cpp-python) from source once
set -euo pipefail
packages=(postgresql chromium g++ cmake)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "system-deps: not root, not installing ${missing[*]}; the tests that need it will skip" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade --no-install-recommends \
  "${missing[@]}" >/dev/null
