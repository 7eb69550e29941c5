#!/usr/bin/env bash
# Installs Debian's strace for `mzt trace` and its tests.
set -euo pipefail
. "$(dirname "$0")/debian-package.sh"
install_debian_package strace strace 'mzt trace and its tests'
