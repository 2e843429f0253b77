#!/usr/bin/env bash
# Debian's Chromium for `make test-browser`, when it is not there yet (needs root and apt).
set -euo pipefail
CHROMIUM="${1:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
  echo "test-browser: Chromium is needed at $CHROMIUM: install Debian's package as root (apt-get install chromium)," \
       "or pass CHROMIUM=/path/to/chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
echo "installed $("$CHROMIUM" --version 2>/dev/null)"  # Debian's launcher warns on stderr
