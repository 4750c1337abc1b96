#!/usr/bin/env bash
# Installs the Chromium the console's browser tests drive (Debian's package; Playwright never
# downloads a browser here). Idempotent: does nothing when /usr/bin/chromium exists.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  bash "$(dirname "$0")/apt-install.sh" chromium
fi
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
