#!/usr/bin/env bash
# Installs Debian's strace for `mzt trace` and its tests (test/integration/syscallTrace.test.ts).
# Does nothing when strace is on PATH.
set -euo pipefail
if command -v strace >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "mzt trace and its tests need strace: install Debian's 'strace' package (apt-get install strace) as root." >&2
  exit 1
fi
echo "installing Debian's strace for mzt trace (one time)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends strace >/dev/null
strace -V | head -1 >&2
