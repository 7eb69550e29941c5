# Sourced by the install-*.sh scripts: installs one Debian package once, as root, for what the
# tests need, and never lets the package start a system service meanwhile (a policy-rc.d that
# answers 101 makes invoke-rc.d refuse; it is removed again only when made here).
# usage: install_debian_package <executable> <package> <what needs it>
install_debian_package() {
  local exe=$1 package=$2 need=$3
  if command -v "$exe" >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
    echo "$need needs $exe: install Debian's '$package' package (apt-get install $package) as root." >&2
    return 1
  fi
  echo "installing Debian's $package for $need (one time)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  local policy=/usr/sbin/policy-rc.d made=0 rc=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made=1
  fi
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$package" >/dev/null; } || rc=$?
  if [ "$made" = 1 ]; then rm -f "$policy"; fi
  if [ "$rc" = 0 ] && ! command -v "$exe" >/dev/null; then
    echo "installed $package, but $exe is still not on PATH" >&2
    rc=1
  fi
  return $rc
}
