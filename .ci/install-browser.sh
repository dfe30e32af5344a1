#!/usr/bin/env bash
# Debian's Chromium and a pinned playwright-core (driver only, no browser download) for the
# browser suite. Idempotent: skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PLAYWRIGHT_VERSION=1.56.1
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version
if [ ! -f .ci/node_modules/playwright-core/package.json ] \
  || ! grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" .ci/node_modules/playwright-core/package.json; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save --no-audit --no-fund --prefix .ci \
    "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null
fi
node -e "console.log('playwright-core', require('./.ci/node_modules/playwright-core/package.json').version)"
