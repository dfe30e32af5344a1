#!/usr/bin/env bash
# permessage-deflate interop, both roles, with python `websockets` and Node `ws`
# (.ci/install-deflate-interop.sh installs them):
#  1. their clients -> pushwire-ws's echo_server example, and -> the pushwire binary's /echo;
#  2. pushwire-ws's deflate_client example -> their echo servers;
#  3. two deflate subscribers on the binary's /ws receive a published message (the shared
#     compressed frame) and report permessage-deflate negotiated.
# Every peer checks that the extension was negotiated and every echo is byte-identical.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.ci/venv-deflate/bin/python
NODE_PATH=$ROOT/.ci/deflate-node/node_modules
export NODE_PATH
[ -x "$PY" ] && [ -d "$NODE_PATH/ws" ] || { echo "suite-deflate-interop: run .ci/install-deflate-interop.sh" >&2; exit 1; }

cargo build -q -p pushwire-ws --features deflate --example echo_server --example deflate_client
cargo build -q -p pushwire --bin pushwire
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ECHO_BIN=$TARGET/debug/examples/echo_server
CLIENT_BIN=$TARGET/debug/examples/deflate_client
SERVER_BIN=$TARGET/debug/pushwire

WORK=$(mktemp -d /tmp/pushwire-deflate.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
passed=0
failed=0
run() { # run NAME CMD...
  local name=$1; shift
  if timeout 120 "$@" > "$WORK/out" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name: $(tail -1 "$WORK/out")"
  else
    failed=$((failed + 1)); echo "FAIL $name: $*"; tail -20 "$WORK/out"
  fi
}
wait_line() { # wait_line FILE PATTERN
  for _ in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

"$ECHO_BIN" 0 > "$WORK/echo.out" 2>&1 & PIDS+=($!)
wait_line "$WORK/echo.out" "listening on"
ECHO_URL=$(sed -n 's/^listening on //p' "$WORK/echo.out")/
"$SERVER_BIN" --addr 127.0.0.1:0 > "$WORK/server.out" 2>&1 & PIDS+=($!)
wait_line "$WORK/server.out" "listening on"
HTTP=$(sed -n 's/^listening on //p' "$WORK/server.out")
WS_BASE=ws://${HTTP#http://}

cat > "$WORK/py_client.py" <<'PYEOF'
import json, sys
from websockets.sync.client import connect
url = sys.argv[1]
def body(n):
    s = "".join('{"id":%d,"topic":"prices","bid":%d.25}' % (i, i * 7919 % 10007) for i in range(n // 30 + 1))
    return s[:n]
with connect(url, max_size=None) as ws:
    ext = [e.name for e in ws.protocol.extensions]
    assert ext == ["permessage-deflate"], ext
    n = 0
    for size in (0, 10, 100, 1000, 20000, 300000):
        for m in (body(size), body(size).encode()):
            ws.send(m)
            assert ws.recv() == m, size
            n += 1
print("python client: %d passed, 0 failed" % n)
PYEOF
cat > "$WORK/py_server.py" <<'PYEOF'
import sys, threading
from websockets.sync.server import serve
def echo(ws):
    assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
    for m in ws:
        ws.send(m)
with serve(echo, "127.0.0.1", 0, max_size=None) as server:
    print("listening on ws://127.0.0.1:%d/" % server.socket.getsockname()[1], flush=True)
    server.serve_forever()
PYEOF
cat > "$WORK/node_client.js" <<'JSEOF'
const WebSocket = require('ws');
const url = process.argv[2];
const body = (n) => { let s = ''; for (let i = 0; s.length < n; i++) s += `{"id":${i},"bid":${i * 7919 % 10007}.25}`; return s.slice(0, n); };
const msgs = [];
for (const n of [0, 10, 100, 1000, 20000, 300000]) { msgs.push(body(n)); msgs.push(Buffer.from(body(n))); }
const ws = new WebSocket(url, { perMessageDeflate: { threshold: 0 } });
let i = 0;
ws.on('open', () => {
  if (!ws.extensions.includes('permessage-deflate')) { console.error('not negotiated: ' + ws.extensions); process.exit(1); }
  ws.send(msgs[0]);
});
ws.on('message', (data, isBinary) => {
  const want = msgs[i];
  const ok = isBinary === Buffer.isBuffer(want) && Buffer.compare(Buffer.from(data), Buffer.from(want)) === 0;
  if (!ok) { console.error(`echo ${i} differs`); process.exit(1); }
  i += 1;
  if (i === msgs.length) { console.log(`node client: ${i} passed, 0 failed`); ws.close(1000); } else ws.send(msgs[i]);
});
ws.on('error', (e) => { console.error(e); process.exit(1); });
JSEOF
cat > "$WORK/node_server.js" <<'JSEOF'
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 }, maxPayload: 64 << 20 });
wss.on('listening', () => console.log(`listening on ws://127.0.0.1:${wss.address().port}/`));
wss.on('connection', (ws) => {
  if (!ws.extensions.includes('permessage-deflate')) { console.error('not negotiated'); process.exit(1); }
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
JSEOF
cat > "$WORK/subscribers.py" <<'PYEOF'
import sys, threading, urllib.request
from websockets.sync.client import connect
ws_base, http = sys.argv[1], sys.argv[2]
msg = '{"event":"price","symbol":"ABC","bid":101.25,"ask":101.5,"history":[1,2,3,4,5,6,7,8,9,10]}' * 4
subs = [connect(ws_base + "/ws?topic=deflate-interop", origin=http) for _ in range(2)]
for s in subs:
    assert [e.name for e in s.protocol.extensions] == ["permessage-deflate"], s.protocol.extensions
req = urllib.request.Request(http + "/publish?topic=deflate-interop", data=msg.encode(), method="POST")
urllib.request.urlopen(req, timeout=10).read()
for s in subs:
    assert s.recv(timeout=10) == msg
    s.close()
print("shared broadcast: 2 passed, 0 failed")
PYEOF

T0=$(date +%s)
run python-client-to-echo_server "$PY" "$WORK/py_client.py" "$ECHO_URL"
run python-client-to-pushwire-echo "$PY" "$WORK/py_client.py" "$WS_BASE/echo"
run node-client-to-echo_server node "$WORK/node_client.js" "$ECHO_URL"
run node-client-to-pushwire-echo node "$WORK/node_client.js" "$WS_BASE/echo"
run python-subscribers-on-pushwire-ws "$PY" "$WORK/subscribers.py" "$WS_BASE" "$HTTP"

"$PY" "$WORK/py_server.py" > "$WORK/pyserver.out" 2>&1 & PIDS+=($!)
wait_line "$WORK/pyserver.out" "listening on"
run pushwire-client-to-python-server "$CLIENT_BIN" "$(sed -n 's/^listening on //p' "$WORK/pyserver.out")"
node "$WORK/node_server.js" > "$WORK/nodeserver.out" 2>&1 & PIDS+=($!)
wait_line "$WORK/nodeserver.out" "listening on"
run pushwire-client-to-node-server "$CLIENT_BIN" "$(sed -n 's/^listening on //p' "$WORK/nodeserver.out")"

echo "deflate interop: $(( $(date +%s) - T0 )) s"
echo "deflate-interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
