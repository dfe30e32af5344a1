#!/usr/bin/env bash
# Installs PyJWT (tokens minted by an implementation that is not ours) and python-websockets
# (its asyncio client, over wss://) into .ci/venv-tls for .ci/suite-tls.sh.
# Idempotent: does nothing when both import already.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.ci/venv-tls
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import jwt, websockets' 2>/dev/null; then
  echo "pyjwt and websockets already installed in $VENV"
  exit 0
fi
PY=$(command -v python3)
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --disable-pip-version-check -q "pyjwt>=2.8,<3" "websockets>=13,<16"
"$VENV/bin/python" -c 'import jwt, websockets; print("pyjwt", jwt.__version__, "websockets", websockets.__version__)'
