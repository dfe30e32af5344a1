#!/usr/bin/env bash
# Installs cargo-fuzz (crates.io) for the fuzz smoke suite, unless it is already there.
# Idempotent: a second run only prints the version.
set -euo pipefail
# libfuzzer-sys compiles libFuzzer (C++) with the `cc` crate.
if ! command -v c++ >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq g++
fi
if cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz already installed: $(cargo fuzz --version)"
  exit 0
fi
cargo install --locked cargo-fuzz --version '^0.13'
cargo fuzz --version
