#!/usr/bin/env bash
# Installs the third-party peers of .ci/suite-sse-interop.sh:
#  - npm `eventsource` (pinned) under .ci/sse-node/node_modules: a WHATWG EventSource client
#    that reads the stream our encoder serves. Its own prefix, because `npm install --no-save`
#    prunes every package it was not asked for: sharing .ci/node_modules with another suite's
#    install would uninstall the other's packages;
#  - Python 3 (stdlib http.server serves a hand-written stream our client must read).
# eventsource 5.x needs Node >= 22.12; 4.1.1 is the newest that runs on Node 20.
# Idempotent: does nothing when the pinned version is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=4.1.1
PREFIX=.ci/sse-node
PKG=$PREFIX/node_modules/eventsource/package.json

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "installing nodejs and npm from Debian"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
fi
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
if [ "$NODE_MAJOR" -lt 20 ]; then
  echo "install-sse-interop: node $(node --version) is too old; eventsource $VERSION needs >= 20" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3
fi

if [ -f "$PKG" ] && [ "$(node -p "require('./$PKG').version")" = "$VERSION" ]; then
  echo "eventsource $VERSION already installed in $PREFIX"
  exit 0
fi
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-save --no-package-lock --no-audit --no-fund "eventsource@$VERSION"
test "$(node -p "require('./$PKG').version")" = "$VERSION"
echo "eventsource $VERSION installed in $PREFIX"
