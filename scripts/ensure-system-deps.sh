#!/usr/bin/env bash
# Install the system packages the tests start themselves (PostgreSQL's server binaries), if missing.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "PostgreSQL server binaries are missing: run 'sudo apt-get install -y postgresql'" >&2
  exit 1
fi
echo "Installing Debian's postgresql package for the warehouse tests..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
