#!/usr/bin/env bash
# Installs Debian's nats-server (2.9, JetStream with -js) for the fleet tests, which start their
# own server on a free loopback port with a temporary store. Never starts it as a service.
# Does nothing when nats-server is on PATH.
set -euo pipefail
if command -v nats-server >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "The fleet tests need nats-server: install Debian's 'nats-server' package (apt-get install nats-server) as root." >&2
  exit 1
fi
echo "installing Debian's nats-server for the fleet tests (one time)..." >&2
export DEBIAN_FRONTEND=noninteractive
# The package must not start a system service: policy-rc.d refuses every start while it installs.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
fi
trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends nats-server >/dev/null
nats-server --version >&2
