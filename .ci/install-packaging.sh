#!/usr/bin/env bash
# Installs cargo-hack (from crates.io, with its lock file) for suite-packaging.sh's
# every-feature-on-its-own check. Idempotent: nothing to do when present.
set -euo pipefail
if cargo hack --version >/dev/null 2>&1; then
  echo "cargo-hack present: $(cargo hack --version)"
  exit 0
fi
cargo install cargo-hack --locked
cargo hack --version
