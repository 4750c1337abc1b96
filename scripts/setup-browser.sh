#!/usr/bin/env bash
# Installs the Chromium the console's browser tests drive (Debian's package; Playwright never
# downloads a browser here). Idempotent: does nothing when /usr/bin/chromium exists.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-browser: /usr/bin/chromium is missing and this user cannot install packages (run as root: apt-get install -y chromium)" >&2
    exit 1
  fi
fi
echo "Installing chromium (apt)…"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
/usr/bin/chromium --version
