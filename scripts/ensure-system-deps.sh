#!/usr/bin/env bash
# Install the system packages the tests start themselves, if missing, from Debian:
# - postgresql: the warehouse of the tests (and the metadata DB of the distributed e2e topology);
# - chromium: the headless browser of the e2e UI test (driven by Playwright, never downloaded);
# - redis-server: the Celery broker of the distributed e2e topology.
set -euo pipefail

missing=()
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null; then
  missing+=(postgresql)
fi
command -v chromium >/dev/null || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "Missing system packages for the tests: run 'sudo apt-get install -y ${missing[*]}'" >&2
  exit 1
fi
echo "Installing Debian packages for the tests: ${missing[*]}..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
