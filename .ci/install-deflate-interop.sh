#!/usr/bin/env bash
# Installs the third-party peers of .ci/suite-deflate-interop.sh (permessage-deflate interop):
#  - npm `ws` (pinned) under .ci/deflate-node/node_modules (its own prefix: `npm install`
#    prunes packages it was not asked for, so suites never share a prefix);
#  - PyPI `websockets` (pinned) in .ci/venv-deflate (Python 3).
# Both negotiate permessage-deflate by default (ws: perMessageDeflate on the client; the
# suite turns it on for the server). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
WS_VERSION=8.18.3
PY_VERSION=15.0.1
PREFIX=.ci/deflate-node
VENV=.ci/venv-deflate

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
fi
if ! command -v python3 >/dev/null 2>&1; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv
fi

PKG=$PREFIX/node_modules/ws/package.json
if [ -f "$PKG" ] && [ "$(node -p "require('./$PKG').version")" = "$WS_VERSION" ]; then
  echo "ws $WS_VERSION already installed in $PREFIX"
else
  mkdir -p "$PREFIX"
  npm install --prefix "$PREFIX" --no-save --no-package-lock --no-audit --no-fund "ws@$WS_VERSION"
  test "$(node -p "require('./$PKG').version")" = "$WS_VERSION"
fi

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import websockets, sys; sys.exit(websockets.__version__ != '$PY_VERSION')" 2>/dev/null; then
  echo "websockets $PY_VERSION already installed in $VENV"
else
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --disable-pip-version-check -q "websockets==$PY_VERSION"
fi
echo "deflate interop peers ready"
