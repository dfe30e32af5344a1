#!/usr/bin/env bash
# SSE interop, both directions, with exact expected events:
#  A. npm `eventsource` (a third-party WHATWG client, installed by install-sse-interop.sh)
#     reads the stream pushwire-sse's encoder serves (crates/sse/examples/sse_serve.rs):
#     every kind of line break in data, empty data, leading space, non-BMP text, trailing
#     newline, custom types, a reconnect resumed with Last-Event-ID.
#  B. Our client (examples/sse_client.rs) reads a stream served by Python's stdlib
#     http.server (close-delimited HTTP/1.0 body): BOM, CRLF/CR/LF, comments, retry, id
#     persistence, NUL id ignored, unknown field, id-only block, unterminated last event,
#     reconnect with Last-Event-ID, and --last-event-id. Its JSON lines are compared byte for
#     byte, since tools outside the project parse exactly that format.
# Exits non-zero on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ES_MODULE=$ROOT/.ci/sse-node/node_modules/eventsource
if [ ! -f "$ES_MODULE/package.json" ]; then
  echo "suite-sse-interop: run .ci/install-sse-interop.sh first" >&2
  exit 1
fi

cargo build -q -p pushwire-sse --example sse_serve
cargo build -q -p pushwire --example sse_client
SERVE=$TARGET/debug/examples/sse_serve
CLIENT=$TARGET/debug/examples/sse_client

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Waits (up to 20 s) for a "listening on http://HOST:PORT" line in $1; prints the URL.
wait_url() {
  for _ in $(seq 200); do
    if grep -q '^listening on ' "$1" 2>/dev/null; then
      sed -n 's/^listening on //p' "$1" | head -n1
      return 0
    fi
    sleep 0.1
  done
  echo "server did not start; its output:" >&2
  cat "$1" >&2
  return 1
}

echo "--- A: npm eventsource reads pushwire-sse's encoder"
"$SERVE" 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
PIDS+=($!)
URL=$(wait_url "$WORK/serve.out")

cat >"$WORK/npm_client.cjs" <<'JS'
const { EventSource } = require(process.env.ES_MODULE);
const es = new EventSource(process.argv[2]);
const got = [];
let errors = 0;
const push = (e) => {
  got.push({ type: e.type, data: e.data, id: e.lastEventId });
  if (e.type === 'done') {
    es.close();
    process.stdout.write(JSON.stringify({ events: got, errors }) + '\n');
    process.exit(0);
  }
};
for (const t of ['message', 'multi', 'uni', 'done']) es.addEventListener(t, push);
es.onerror = () => { errors += 1; };
setTimeout(() => {
  process.stderr.write('timed out; got ' + JSON.stringify(got) + '\n');
  process.exit(1);
}, 20000);
JS
ES_MODULE=$ES_MODULE timeout 30 node "$WORK/npm_client.cjs" "$URL/events" >"$WORK/npm.json"

python3 - "$WORK/npm.json" <<'PY'
import json, sys
got = json.load(open(sys.argv[1]))
want = [
    {"type": "message", "data": "hello", "id": "1"},
    {"type": "multi", "data": "line1\nline2\nline3\nline4", "id": "2"},
    {"type": "message", "data": "", "id": "3"},
    {"type": "message", "data": " leading space: and colon", "id": "4"},
    {"type": "uni", "data": "unicode \u00e9 \U0001F600 \u2028 \"quoted\" back\\slash\ttab", "id": "5"},
    {"type": "message", "data": "trailing newline\n", "id": "6"},
    {"type": "done", "data": "done", "id": "7"},
]
if got["events"] != want:
    print("npm eventsource got:", json.dumps(got["events"], indent=1), file=sys.stderr)
    print("expected:", json.dumps(want, indent=1), file=sys.stderr)
    sys.exit(1)
# The server ends the body after 3 and 6 events: two reconnects, each an `error` event.
if got["errors"] != 2:
    print("expected 2 reconnects (error events), got", got["errors"], file=sys.stderr)
    sys.exit(1)
print("A ok: 7 events, 2 reconnects resumed with Last-Event-ID")
PY

echo "--- B: pushwire's sse_client reads Python http.server"
cat >"$WORK/py_server.py" <<'PY'
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIRST = (
    b"\xef\xbb\xbf: hello comment\r\n"
    b"retry: 20\r\n"
    b"\r\n"
    b"id: a1\r\n"
    b"event: greet\r\n"
    b"data: first\r\n"
    b"data:  second with space\r\n"
    b"\r\n"
    b"data: no id here, persisted\r"
    b"\r"
    b"id: bad\x00id\n"
    b"data: nul id ignored\n"
    b"\n"
    b"data: tab\tand unicode \xc3\xa9 \xf0\x9f\x98\x80 and \x00 nul\n"
    b"Data: ignored field\n"
    b"\n"
    b"id: a2\n"
    b"\n"
    b"data: unterminated, never dispatched\n"
)

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # close-delimited body

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path != "/stream":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        last = self.headers.get("Last-Event-ID")
        if last is None:
            self.wfile.write(FIRST)
            self.wfile.flush()
            return  # connection closes: the client must reconnect
        self.wfile.write(("data: resumed after %s\n\nevent: end\ndata: bye\n\n" % last).encode())
        self.wfile.flush()
        time.sleep(30)

srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
print("listening on http://127.0.0.1:%d" % srv.server_address[1], flush=True)
srv.serve_forever()
PY
python3 "$WORK/py_server.py" >"$WORK/py.out" 2>"$WORK/py.err" &
PIDS+=($!)
PYURL=$(wait_url "$WORK/py.out")

# Runs sse_client with the given arguments until it printed $1 lines (or 20 s), then stops it.
run_client() {
  local want_lines=$1 out=$2
  shift 2
  "$CLIENT" "$@" >"$out" 2>"$out.err" &
  local pid=$!
  for _ in $(seq 200); do
    [ "$(wc -l <"$out")" -ge "$want_lines" ] && break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

compare() { # compare NAME GOT WANT
  if ! diff -u "$3" "$2"; then
    echo "$1: sse_client output differs (stderr below)" >&2
    cat "$2.err" >&2
    exit 1
  fi
  echo "$1 ok: $(wc -l <"$2") lines identical"
}

run_client 6 "$WORK/b1.jsonl" "$PYURL/stream"
printf '%s\n' \
  '{"type":"greet","data":"first\u000a second with space","id":"a1"}' \
  '{"type":"message","data":"no id here, persisted","id":"a1"}' \
  '{"type":"message","data":"nul id ignored","id":"a1"}' \
  '{"type":"message","data":"tab\u0009and unicode é 😀 and \u0000 nul","id":"a1"}' \
  '{"type":"message","data":"resumed after a2","id":"a2"}' \
  '{"type":"end","data":"bye","id":"a2"}' >"$WORK/b1.want"
compare "B (reconnect)" "$WORK/b1.jsonl" "$WORK/b1.want"

run_client 2 "$WORK/b2.jsonl" "$PYURL/stream" --last-event-id 'x"9'
printf '%s\n' \
  '{"type":"message","data":"resumed after x\"9","id":"x\"9"}' \
  '{"type":"end","data":"bye","id":"x\"9"}' >"$WORK/b2.want"
compare "B (--last-event-id)" "$WORK/b2.jsonl" "$WORK/b2.want"

echo "sse interop: all ok"
