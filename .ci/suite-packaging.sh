#!/usr/bin/env bash
# "Crates ready to depend on": the docs build without a warning with every feature, every
# publishable library crate packages (each .crate carries its README and license files, and
# compiles from the packaged sources alone), and every feature of the library crates builds
# on its own. Each step prints its wall time; the whole suite stays under ~5 minutes on 2
# cores after the test stage (it reuses that stage's target directory).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { # step NAME CMD...
  local name=$1; shift
  local s; s=$(date +%s)
  echo "--- packaging: $name"
  "$@"
  echo "--- packaging: $name ok ($(( $(date +%s) - s )) s)"
}

# Library crates someone may depend on (bench is publish = false; the root `pushwire` is
# the server application and its facade, packaged too).
LIBS=(pushwire-http pushwire-ws pushwire-sse pushwire-poll pushwire-server pushwire-redis)

step "cargo doc -D warnings --all-features" \
  env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features

# `cargo package` with several packages (cargo >= 1.90) verifies each against the others'
# freshly packaged sources through a local overlay registry, so crates that depend on
# unpublished siblings verify too. The overlay is merged with crates.io, though, and
# crates.io already has unrelated crates named `pushwire` and `pushwire-server` (0.1.1 >
# our 0.1.0): a crate depending on `pushwire-server = "0.1.0"` resolves to that stranger
# and cannot verify. So pushwire-redis and the root `pushwire` are packaged without
# verification (their file lists and metadata are still checked) until the names change.
VERIFIED=(pushwire-http pushwire-ws pushwire-sse pushwire-poll pushwire-server)
# Cargo unpacks the overlay's crates under $CARGO_HOME/registry/src/-<hash of the overlay's
# path>/NAME-VERSION and reuses a directory it finds there: a second run from a checkout at the
# same path would verify against the first run's sources (same version number, older code) and
# fail on APIs added since. Those unpacked copies are ours alone (crates.io's directory is
# named index.crates.io-*), so they go first.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/pushwire*
UNVERIFIED=(pushwire-redis pushwire)
pkg_args=()
for p in "${VERIFIED[@]}"; do pkg_args+=(-p "$p"); done
step "cargo package (verified)" cargo package --allow-dirty "${pkg_args[@]}"
# Unverified packaging resolves path dependencies through the same overlay only for the
# packages listed, so the siblings are listed again (cheap: no build).
pkg_args=()
for p in "${VERIFIED[@]}" "${UNVERIFIED[@]}"; do pkg_args+=(-p "$p"); done
step "cargo package --no-verify (all, for ${UNVERIFIED[*]})" \
  cargo package --allow-dirty --no-verify "${pkg_args[@]}"

# Each .crate must carry the license files and the README it names.
for p in "${LIBS[@]}" pushwire; do
  crate=$(ls -t "${CARGO_TARGET_DIR:-target}"/package/"$p"-[0-9]*.crate 2>/dev/null | head -n1 || true)
  [ -n "$crate" ] || { echo "no .crate for $p"; exit 1; }
  listing=$(tar -tzf "$crate")
  for f in LICENSE-MIT LICENSE-APACHE README.md Cargo.toml; do
    grep -q "^[^/]*/$f\$" <<<"$listing" || { echo "$crate lacks $f"; exit 1; }
  done
done
echo "every .crate carries LICENSE-MIT, LICENSE-APACHE and README.md"

hack_args=()
for p in "${LIBS[@]}"; do hack_args+=(-p "$p"); done
# `--all-features` was already type-checked by the doc step above.
step "cargo hack check --each-feature --no-dev-deps" \
  cargo hack check --each-feature --no-dev-deps --exclude-all-features "${hack_args[@]}"
