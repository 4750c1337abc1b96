#!/usr/bin/env bash
# Installs the PostgreSQL server that FerretDB's PostgreSQL engine runs on (Debian's package;
# only for DEV_STORE_ENGINE=postgresql — the default SQLite engine needs nothing). Idempotent:
# does nothing when a PostgreSQL server binary is already installed.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  ls -d /usr/lib/postgresql/*/bin/postgres | tail -n 1
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-postgres: PostgreSQL is missing and this user cannot install packages (run as root: apt-get install -y postgresql)" >&2
    exit 1
  fi
fi
echo "Installing postgresql (apt)…"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends postgresql
ls -d /usr/lib/postgresql/*/bin/postgres | tail -n 1
