#!/usr/bin/env bash
# Installs Debian's redis-server for pushwire-redis's tests (they start their own server on a
# free 127.0.0.1 port with their own data directory). Idempotent: nothing to do when present.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  echo "redis-server present: $(redis-server --version)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d 101 keeps the package from starting the system service; the tests run their own.
had_policy=0
[ -e /usr/sbin/policy-rc.d ] && had_policy=1
if [ "$had_policy" = 0 ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
apt-get install -y -qq redis-server
if [ "$had_policy" = 0 ]; then rm -f /usr/sbin/policy-rc.d; fi
# Should a service have started anyway, stop it: nothing may listen on 6379 behind our back.
if command -v systemctl >/dev/null 2>&1; then systemctl stop redis-server >/dev/null 2>&1 || true; fi
if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
echo "installed: $(redis-server --version)"
