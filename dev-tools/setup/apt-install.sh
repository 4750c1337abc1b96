#!/usr/bin/env bash
# Installs Debian packages for the dev tools that are not npm or Go modules (Chromium for the
# browser tests, PostgreSQL for FerretDB's PostgreSQL engine), as root or through sudo.
#   bash dev-tools/setup/apt-install.sh <package>…
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "apt-install: $* missing and this user cannot install packages (run as root: apt-get install -y $*)" >&2
    exit 1
  fi
fi
echo "Installing $* (apt)…"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "$@"
