#!/usr/bin/env bash
# Autobahn|Testsuite against pushwire-ws in both roles, sections 1-13 (12-13: permessage-deflate,
# feature `deflate`): `fuzzingclient` against pushwire-ws's echo server and against the
# `pushwire` binary's `/echo` (the server's own connection pump), `fuzzingserver` against our
# client. All 216 deflate cases (12-13) run against the binary's `/echo` and against our client,
# each in two parallel shards; the example echo server runs a 72-case subset, see below. Prints the case counts and per-section results, and exits non-zero
# on any FAILED case or any close behaviour other than OK/INFORMATIONAL. Needs
# .ci/install-autobahn.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.ci/venv-autobahn
WSTEST=$VENV/bin/wstest
PY=$VENV/bin/python
[ -x "$WSTEST" ] || { echo "suite-autobahn: $WSTEST missing; run .ci/install-autobahn.sh" >&2; exit 1; }

cargo build --release -p pushwire-ws --features deflate --examples
cargo build --release --bin pushwire
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ECHO_BIN=$TARGET/release/examples/echo_server
SERVER_BIN=$TARGET/release/pushwire
CLIENT_BIN=$TARGET/release/examples/autobahn_client

WORK=$(mktemp -d /tmp/pushwire-autobahn.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  # Servers started inside `$(...)` (start_and_wait) are not in PIDS: a command
  # substitution is a subshell. They leave their pid in a file.
  for f in "$WORK"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Sections 12 (five corpora) and 13 (seven offer/answer pairs, RFC 7692 parameters) have 18
# cases each, 1000 messages apiece up to 128 KiB: all 216 of them take wstest (Python 2 zlib)
# most of the time. The subset runs every group's sizes 16 B to 4 KiB unfragmented (1-5) and
# 8 KiB in 256-byte fragments (11): every negotiation and the fragmented inflate path, 72
# cases. By default the client role (fuzzingserver against our client) and the binary's
# `/echo` (the server issue 11 names) run all 216, and pushwire-ws's example echo server, which
# runs the same pushwire-ws code as `/echo` minus the server's pump, runs the subset.
# AUTOBAHN_FULL=1 runs all 216 in every role; AUTOBAHN_QUICK=1 runs the subset in every role.
FULL_DEFLATE=$(for g in 12.1 12.2 12.3 12.4 12.5 13.1 13.2 13.3 13.4 13.5 13.6 13.7; do
  printf '"%s.*", ' "$g"; done | sed 's/, $//')
SUBSET_DEFLATE=$(for g in 12.1 12.2 12.3 12.4 12.5 13.1 13.2 13.3 13.4 13.5 13.6 13.7; do
  for y in 1 2 3 4 5 11; do printf '"%s.%s", ' "$g" "$y"; done; done | sed 's/, $//')
SERVER_DEFLATE=$SUBSET_DEFLATE; SERVER_N=72
BINARY_DEFLATE=$FULL_DEFLATE; BINARY_N=216
CLIENT_DEFLATE=$FULL_DEFLATE; CLIENT_N=216
if [ -n "${AUTOBAHN_FULL:-}" ]; then SERVER_DEFLATE=$FULL_DEFLATE; SERVER_N=216; fi
if [ -n "${AUTOBAHN_QUICK:-}" ]; then
  CLIENT_DEFLATE=$SUBSET_DEFLATE; CLIENT_N=72; BINARY_DEFLATE=$SUBSET_DEFLATE; BINARY_N=72
fi
BASE_CASES='"1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "8.*", "9.*", "10.*"'
SERVER_CASES="[$BASE_CASES, $SERVER_DEFLATE]"
BINARY_CASES="[$BASE_CASES, $BINARY_DEFLATE]"
CLIENT_CASES="[$BASE_CASES, $CLIENT_DEFLATE]"
EXCLUDE='[]'
echo "autobahn: sections 1-10 in every role; of the 216 deflate cases (12-13): $SERVER_N against echo_server, $BINARY_N against pushwire /echo, $CLIENT_N in the client role"

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

check() { # check ROLE INDEX_JSON...: several reports (shards of one role) are merged
  "$PY" - "$@" <<'PYEOF'
import json, sys
from collections import OrderedDict
role = sys.argv[1]
index = {}
for path in sys.argv[2:]:
    with open(path) as f:
        for agent, cases in json.load(f).items():
            index.setdefault(agent, {}).update(cases)
good_close = ("OK", "INFORMATIONAL")
kinds = ["OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED"]
bad = []
total = 0
for agent, cases in sorted(index.items()):
    sections = OrderedDict()
    def key(c):
        return [int(x) for x in c.split(".")]
    for case in sorted(cases, key=key):
        r = cases[case]
        total += 1
        sec = case.split(".")[0]
        counts = sections.setdefault(sec, OrderedDict((k, 0) for k in kinds + ["other"]))
        b = r.get("behavior")
        counts[b if b in counts else "other"] += 1
        if b not in ("OK", "NON-STRICT", "INFORMATIONAL") or r.get("behaviorClose") not in good_close:
            bad.append("%s: behavior %s, close %s (remote code %s)" % (
                case, b, r.get("behaviorClose"), r.get("remoteCloseCode")))
    print("autobahn %s (%s), %d cases:" % (role, agent, len(cases)))
    for sec, counts in sections.items():
        print("  section %-3s %s" % (sec, "  ".join("%s=%d" % (k, v) for k, v in counts.items() if v)))
if total == 0:
    print("autobahn %s: no case ran" % role)
    sys.exit(1)
if bad:
    print("autobahn %s: %d bad cases:" % (role, len(bad)))
    for b in bad:
        print("  " + b)
    sys.exit(1)
print("autobahn-%s: %d passed, 0 failed" % (role, total))
PYEOF
}

shard_cases() { # shard_cases a|b CASES: shard a (1-10 and 12) or b (13) of a JSON case list
  local sel
  if [ "$1" = a ]; then sel="12.1 12.2 12.3 12.4 12.5"; else sel="13.1 13.2 13.3 13.4 13.5 13.6 13.7"; fi
  "$PY" - "$1" "$2" "$sel" <<'PYEOF'
import json, sys
shard, cases, groups = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3].split()
def group(c):
    parts = c.split(".")
    return ".".join(parts[:2]) if parts[0] in ("12", "13") else None
out = [c for c in cases if (group(c) in groups if group(c) else shard == "a")]
print(json.dumps(out))
PYEOF
}

status=0

# --- our servers, Autobahn's client ------------------------------------------------------
fuzzingclient() { # fuzzingclient NAME AGENT URL CASES: one wstest fuzzingclient run, timed
  local name=$1 agent=$2 url=$3 cases=$4 t0 rc=0
  cat > "$WORK/client-$name.json" <<JSON
{
  "outdir": "$WORK/reports/$name",
  "servers": [{"agent": "$agent", "url": "$url"}],
  "cases": $cases,
  "exclude-cases": $EXCLUDE,
  "exclude-agent-cases": {}
}
JSON
  t0=$(date +%s)
  (cd "$WORK" && timeout 1200 "$WSTEST" -m fuzzingclient -s "$WORK/client-$name.json" > "$WORK/fuzzingclient-$name.log" 2>&1) \
    || { echo "wstest fuzzingclient ($name) failed"; tail -20 "$WORK/fuzzingclient-$name.log"; rc=1; }
  echo "autobahn $name: $(( $(date +%s) - t0 )) s"
  return $rc
}

fuzz_server() { # fuzz_server NAME URL: wstest fuzzingclient against URL with SERVER_CASES, checked
  fuzzingclient "$1" "pushwire-$1" "$2" "$SERVER_CASES" || status=1
  check "$1" "$WORK/reports/$1/index.json" || status=1
}

start_and_wait() { # start_and_wait OUT BIN ARGS...: runs BIN, echoes its "listening on" URL
  local out=$1; shift
  "$@" > "$out" 2>"$out.err" &
  echo $! > "$out.pid"
  for _ in $(seq 1 100); do
    grep -q "listening on" "$out" 2>/dev/null && break
    sleep 0.1
  done
  sed -n 's/^listening on //p' "$out"
}

ECHO_URL=$(start_and_wait "$WORK/echo.out" "$ECHO_BIN" 0)
[ -n "$ECHO_URL" ] || { echo "echo server did not start" >&2; cat "$WORK/echo.out.err" >&2; exit 1; }
fuzz_server server "$ECHO_URL"

# The binary prints `listening on http://HOST:PORT`; its /echo has pushwire-ws's default limits.
HTTP_URL=$(start_and_wait "$WORK/pushwire.out" "$SERVER_BIN" --addr 127.0.0.1:0)
[ -n "$HTTP_URL" ] || { echo "pushwire did not start" >&2; cat "$WORK/pushwire.out.err" >&2; exit 1; }
# Two shards in parallel against the one server, as in the client role below: sections 1-10
# and 12, then 13 (wstest is single-threaded).
BIN_URL="ws://${HTTP_URL#http://}/echo"
T0=$(date +%s)
fuzzingclient binary-echo-a pushwire-binary-echo "$BIN_URL" "$(shard_cases a "$BINARY_CASES")" & BIN_A=$!
fuzzingclient binary-echo-b pushwire-binary-echo "$BIN_URL" "$(shard_cases b "$BINARY_CASES")" & BIN_B=$!
PIDS+=("$BIN_A" "$BIN_B")
wait "$BIN_A" || status=1
wait "$BIN_B" || status=1
echo "autobahn binary-echo: $(( $(date +%s) - T0 )) s"
check binary-echo "$WORK/reports/binary-echo-a/index.json" "$WORK/reports/binary-echo-b/index.json" || status=1

# --- our client, Autobahn's server -------------------------------------------------------
# The client role runs as two shards in parallel, each its own fuzzingserver and client
# driver: wstest is single-threaded and the 216 deflate cases are most of the suite's CPU
# (about 90 s of wstest + client CPU per group of 18), so two shards use both cores.
# Shard a: sections 1-10 and 12; shard b: 13 (measured at load ~7 with everything else on the
# machine: 570 and 470 s).
# `--webport 0`: no embedded web server (it would take port 8080 twice).

client_shard() { # client_shard a|b: fuzzingserver + our client driver, timed
  local shard=$1 port t0 rc=0
  port=$(free_port)
  cat > "$WORK/server-$shard.json" <<JSON
{
  "url": "ws://127.0.0.1:$port",
  "outdir": "$WORK/reports/client-$shard",
  "cases": $(shard_cases "$shard" "$CLIENT_CASES"),
  "exclude-cases": $EXCLUDE,
  "exclude-agent-cases": {}
}
JSON
  (cd "$WORK" && exec "$WSTEST" -m fuzzingserver --webport 0 -s "$WORK/server-$shard.json" > "$WORK/fuzzingserver-$shard.log" 2>&1) &
  echo $! > "$WORK/fuzzingserver-$shard.pid"
  for _ in $(seq 1 100); do
    "$PY" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $port)))" && break
    sleep 0.2
  done
  t0=$(date +%s)
  timeout 1200 "$CLIENT_BIN" "ws://127.0.0.1:$port" > "$WORK/client-$shard.log" 2>&1 || rc=1
  echo "autobahn client role, shard $shard ($(head -1 "$WORK/client-$shard.log")): $(( $(date +%s) - t0 )) s"
  kill "$(cat "$WORK/fuzzingserver-$shard.pid")" 2>/dev/null || true
  return $rc
}

T0=$(date +%s)
client_shard a & SHARD_A=$!
client_shard b & SHARD_B=$!
PIDS+=("$SHARD_A" "$SHARD_B")
wait "$SHARD_A" || { echo "autobahn client driver (shard a) failed"; tail -20 "$WORK/client-a.log"; status=1; }
wait "$SHARD_B" || { echo "autobahn client driver (shard b) failed"; tail -20 "$WORK/client-b.log"; status=1; }
echo "autobahn client role: $(( $(date +%s) - T0 )) s"
check client "$WORK/reports/client-a/index.json" "$WORK/reports/client-b/index.json" || status=1

if [ "$status" -ne 0 ] && [ -n "${AUTOBAHN_KEEP:-}" ]; then
  cp -r "$WORK" "$AUTOBAHN_KEEP"
fi
exit "$status"
