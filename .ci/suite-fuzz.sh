#!/usr/bin/env bash
# Fuzz smoke suite: builds every target in fuzz/ once (one cargo-fuzz build), then runs each
# for FUZZ_SECONDS (default 30) on a temporary corpus seeded from fuzz/seeds/<target>/, with
# -rss_limit_mb=2048 -timeout=10 and a per-target -max_len. Any crash, failed assertion,
# OOM, timeout or leak fails the suite; the reproducer is copied to fuzz/artifacts/<target>/.
# Prints execs and exec/s per target. See fuzz/README.md.
#
# Environment: FUZZ_SECONDS (per target), FUZZ_TARGETS (space-separated subset),
# FUZZ_SANITIZER (address | none; default: address, falling back to none if it cannot build),
# FUZZ_CORPUS_DIR (keep each target's corpus in DIR/<target> instead of a temporary dir;
# fuzz/corpus is gitignored).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_EACH=${FUZZ_SECONDS:-30}
# libFuzzer's sanitizer flags are nightly-only (-Zsanitizer); the one stable toolchain here
# accepts them with RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
SAN=${FUZZ_SANITIZER:-address}

build() { timeout 1800 cargo fuzz build --debug-assertions --sanitizer "$1"; }
if ! build "$SAN"; then
  if [ "$SAN" = address ]; then
    echo "fuzz: build with AddressSanitizer failed; falling back to --sanitizer none"
    SAN=none
    build none
  else
    exit 1
  fi
fi
echo "fuzz: built with --sanitizer $SAN --debug-assertions"

TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN=target/$TRIPLE/release
TARGETS=${FUZZ_TARGETS:-$(cargo fuzz list)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0:detect_leaks=1}

max_len() {
  case $1 in
    http_request) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

FAILED=()
for t in $TARGETS; do
  mkdir -p "$WORK/$t"
  CORPUS=${FUZZ_CORPUS_DIR:+$FUZZ_CORPUS_DIR/$t}
  CORPUS=${CORPUS:-$WORK/$t/corpus}
  mkdir -p "$CORPUS"
  if [ -d "seeds/$t" ]; then cp seeds/"$t"/* "$CORPUS/" 2>/dev/null || true; fi
  rc=0
  "$BIN/$t" "$CORPUS" \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 -max_len="$(max_len "$t")" \
    -print_final_stats=1 -artifact_prefix="$WORK/$t/" >"$WORK/$t/log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$WORK/$t/log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    echo "fuzz $t: FAILED (exit $rc) after ${execs:-?} execs"
    grep -E 'panicked|ERROR|SUMMARY|left:|right:|Test unit written' "$WORK/$t/log" | head -20 || true
    mkdir -p "artifacts/$t"
    cp "$WORK/$t"/crash-* "$WORK/$t"/oom-* "$WORK/$t"/timeout-* "$WORK/$t"/leak-* "artifacts/$t/" 2>/dev/null || true
    echo "fuzz $t: reproducer(s) in fuzz/artifacts/$t/ (run: fuzz/$BIN/$t <file>)"
    FAILED+=("$t")
  else
    echo "fuzz $t: ok, ${execs:-?} execs in ${SECONDS_EACH} s, ${rate:-?} exec/s"
  fi
done

if [ ${#FAILED[@]} -ne 0 ]; then
  echo "fuzz: FAILED targets: ${FAILED[*]}"
  exit 1
fi
echo "fuzz: all targets clean"
