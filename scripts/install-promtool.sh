#!/usr/bin/env bash
# Installs Debian's promtool (it comes with the 'prometheus' package) for the /metrics tests,
# which run `promtool check metrics` on a real scrape and `promtool check config` on
# docs/fleet/prometheus.yml. Only the tool is wanted: the package's Prometheus server must not
# start as a system service. Does nothing when promtool is on PATH.
set -euo pipefail
if command -v promtool >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "The /metrics tests need promtool: install Debian's 'prometheus' package (apt-get install prometheus) as root." >&2
  exit 1
fi
echo "installing Debian's prometheus package for promtool (one time)..." >&2
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d answering 101 makes invoke-rc.d/deb-systemd-invoke refuse every service start
# while the package installs; it is removed again only when this script created it.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
fi
trap 'if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
promtool --version 2>&1 | head -1 >&2
