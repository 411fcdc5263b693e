#!/bin/sh
# Makes sure PostgreSQL's server binaries (initdb, postgres, pg_ctl) are on this machine,
# installing Debian's `postgresql` package when they are not. The test suite starts its
# own throwaway server from them (tests/pg_server.py); nothing here starts a server.
set -eu

found() {
    command -v initdb >/dev/null 2>&1 && return 0
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if found; then
    exit 0
fi

echo "PostgreSQL server binaries not found: installing Debian's postgresql package"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d 101 would keep the package from starting its own cluster; it does no harm if it does.
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
found
