#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (playwright-core drives it; its own browser
# download cannot work here). Does nothing when /usr/bin/chromium exists.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "The browser tests need Chromium at /usr/bin/chromium: install Debian's 'chromium' package (apt-get install chromium) as root." >&2
  exit 1
fi
echo "installing Debian's chromium for the browser tests (one time, about a minute)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version >&2
