#!/usr/bin/env bash
# Installs Debian's nats-server (2.9, JetStream with -js) for the fleet tests, which start their own server on a free loopback port.
set -euo pipefail
. "$(dirname "$0")/debian-package.sh"
install_debian_package nats-server nats-server 'the fleet tests'
