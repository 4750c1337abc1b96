#!/usr/bin/env bash
# Installs the PostgreSQL server that FerretDB's PostgreSQL engine runs on (Debian's package;
# only for DEV_STORE_ENGINE=postgresql — the default SQLite engine needs nothing). Idempotent:
# does nothing when a PostgreSQL server binary is already installed.
set -euo pipefail
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  bash "$(dirname "$0")/apt-install.sh" postgresql
fi
ls -d /usr/lib/postgresql/*/bin/postgres | tail -n 1
