#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (playwright-core drives it; its own browser download cannot work here).
set -euo pipefail
. "$(dirname "$0")/debian-package.sh"
install_debian_package /usr/bin/chromium chromium 'the browser tests'
