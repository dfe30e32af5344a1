#!/usr/bin/env bash
# Installs Autobahn|Testsuite (wstest) into .ci/venv-autobahn for .ci/suite-autobahn.sh.
# autobahntestsuite 25.10.1 runs on Python 2.7 only; pyenv provides 2.7.18 on these machines.
# Idempotent: does nothing when wstest of the pinned version is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.ci/venv-autobahn
VERSION=25.10.1

if [ -x "$VENV/bin/wstest" ] && "$VENV/bin/pip" show autobahntestsuite 2>/dev/null | grep -qx "Version: $VERSION"; then
  echo "autobahntestsuite $VERSION already installed in $VENV"
  exit 0
fi

PY=""
for cand in /root/.pyenv/versions/2.7.18/bin/python "${PYENV_ROOT:-/root/.pyenv}"/versions/2.7*/bin/python python2.7 python2; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' 2>/dev/null; then
    PY=$cand
    break
  fi
done
if [ -z "$PY" ]; then
  echo "install-autobahn: no Python 2.7 interpreter found (autobahntestsuite needs one)" >&2
  exit 1
fi
echo "using $PY ($("$PY" --version 2>&1))"

if ! "$PY" -m virtualenv --version >/dev/null 2>&1; then
  "$PY" -m pip install --user --disable-pip-version-check -q virtualenv
fi
rm -rf "$VENV"
"$PY" -m virtualenv -q "$VENV"
"$VENV/bin/pip" install --disable-pip-version-check -q "autobahntestsuite==$VERSION"
"$VENV/bin/wstest" --help >/dev/null
echo "autobahntestsuite $VERSION installed in $VENV"
