#!/usr/bin/env bash
# Installs Debian's promtool (in the 'prometheus' package) for the /metrics tests; the Prometheus server is not started.
set -euo pipefail
. "$(dirname "$0")/debian-package.sh"
install_debian_package promtool prometheus 'the /metrics tests'
