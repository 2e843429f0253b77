#!/usr/bin/env bash
# Render aging_report.html in headless Chromium and save a screenshot beside it.
# Usage: scripts/render_report.sh REPORT_DIR    (apt-get install chromium, once)
set -euo pipefail
dir=$(cd "${1:?usage: $0 REPORT_DIR}" && pwd)
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "render_report: chromium not found (apt-get install chromium)"; exit 1; }
profile=$(mktemp -d)
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
  --window-size=1000,1200 --screenshot="$dir/aging_report.png" "file://$dir/aging_report.html" >/dev/null 2>&1
rm -rf "$profile"
echo "rendered $dir/aging_report.png"
