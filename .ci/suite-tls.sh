#!/usr/bin/env bash
# TLS and access control against the release binary, with clients that are not ours:
#  - certificates from openssl (a CA and a localhost leaf), the server on https://127.0.0.1:0
#    with --tls-cert/--tls-key and --auth-secret-file;
#  - tokens minted by PyJWT; curl over https:// (--cacert) publishes, polls, long-polls and
#    streams SSE; python-websockets' asyncio client over wss:// publishes and subscribes;
#  - every refusal with its exact status (alg none, HS512, wrong key, tampered payload,
#    expired, nbf, topic not covered, wildcard edges), and a WebSocket whose token expires
#    2 s after connecting closed with 1008 within 3 s.
# Needs .ci/install-tls.sh (PyJWT, websockets in .ci/venv-tls).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
cargo build --release --bin pushwire
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/pushwire"
WORK=$(mktemp -d)
LOG=$WORK/log
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A CA and a leaf for localhost / 127.0.0.1 signed by it; the server gets the full chain.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=pushwire suite CA" -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$WORK/leaf.key" -out "$WORK/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$WORK/ext"
openssl x509 -req -in "$WORK/leaf.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
  -CAcreateserial -days 2 -extfile "$WORK/ext" -out "$WORK/leaf.pem" 2>/dev/null
cat "$WORK/leaf.pem" "$WORK/ca.pem" >"$WORK/chain.pem"
printf 'suite-secret-%s-0123456789abcdef0123\n' "$RANDOM$RANDOM" >"$WORK/secret"

"$BIN" --addr 127.0.0.1:0 --tls-cert "$WORK/chain.pem" --tls-key "$WORK/leaf.key" \
  --auth-secret-file "$WORK/secret" >"$LOG" 2>&1 &
PID=$!
PORT=
for _ in $(seq 1 100); do
  PORT=$(sed -n 's#^listening on https://127\.0\.0\.1:\([0-9]*\)$#\1#p' "$LOG" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { echo "server did not print an https:// address"; cat "$LOG"; exit 1; }
echo "pushwire on https://127.0.0.1:$PORT"

PORT=$PORT WORK=$WORK timeout 180 .ci/venv-tls/bin/python -W ignore - <<'PY'
import asyncio, base64, json, os, ssl, subprocess, sys, time
import jwt
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

PORT = int(os.environ["PORT"]); WORK = os.environ["WORK"]
BASE = f"https://localhost:{PORT}"
CA = f"{WORK}/ca.pem"
with open(f"{WORK}/secret", "rb") as f:
    KEY = f.read()[:-1]  # the server trims one trailing newline
passed = failed = 0

def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1; print("ok   - " + name)
    else:
        failed += 1; print("FAIL - " + name + (": " + str(detail) if detail else ""))

def tok(claims=None, key=KEY, alg="HS256", ttl=600, **extra):
    c = {"exp": int(time.time()) + ttl}
    c.update(claims or {}); c.update(extra)
    return jwt.encode(c, key, algorithm=alg)

def curl(path, token=None, method="GET", body=None, extra=(), max_time=10):
    args = ["curl", "-sS", "--cacert", CA, "--max-time", str(max_time), "-o", "-",
            "-w", "\n%{http_code}", "-X", method]
    if token is not None:
        args += ["-H", f"Authorization: Bearer {token}"]
    if body is not None:
        args += ["--data-binary", body]
    args += list(extra) + [BASE + path]
    out = subprocess.run(args, capture_output=True, text=True)
    text, _, code = out.stdout.rpartition("\n")
    return int(code or 0), text

ALL = tok({"sub": "suite", "subscribe": ["news", "chat.*"], "publish": ["news", "chat.*"]})
ssl_ctx = ssl.create_default_context(cafile=CA)

# 1. PyJWT tokens accepted on all four transports and /publish, over HTTPS / WSS.
code, body = curl("/publish?topic=news", ALL, "POST", "first")
check("publish over https with a PyJWT token", code == 200 and '"id"' in body, (code, body))
code, body = curl(f"/poll?topic=news&since=0&token={ALL}")
check("poll with token= in the query", code == 200 and "first" in body, (code, body))
sse = subprocess.Popen(["curl", "-sSN", "--cacert", CA, "--max-time", "4",
                        f"{BASE}/events?topic=news&token={ALL}"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
lp = subprocess.Popen(["curl", "-sS", "--cacert", CA, "--max-time", "10", "-H", f"Authorization: Bearer {ALL}",
                       f"{BASE}/long-poll?topic=news&timeout=8000"], stdout=subprocess.PIPE, text=True)

async def ws_round():
    async with connect(f"wss://localhost:{PORT}/ws?topic=news&token={ALL}", ssl=ssl_ctx) as ws:
        await asyncio.sleep(0.5)
        await ws.send("from-websockets")
        got = await asyncio.wait_for(ws.recv(), 10)
        return got
got = asyncio.run(ws_round())
check("python-websockets over wss:// publishes and receives", got == "from-websockets", got)
sse_out = sse.communicate()[0]
check("curl SSE stream over https receives the WebSocket's message",
      "data: from-websockets" in sse_out, sse_out[-300:])
lp_out = lp.communicate()[0]
check("curl long poll over https answered with the message", "from-websockets" in lp_out, lp_out)

async def echo():
    async with connect(f"wss://localhost:{PORT}/echo?token={tok()}", ssl=ssl_ctx) as ws:
        await ws.send("e"); return await asyncio.wait_for(ws.recv(), 10)
check("/echo with any valid token", asyncio.run(echo()) == "e")

# 2. Refusals, each with its exact status.
def tamper(t):
    h, p, s = t.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["publish"] = ["*"]
    p2 = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{h}.{p2}.{s}"

sub_news = {"subscribe": ["news"]}
cases = [
    ("no token", "/poll?topic=news", None, 401),
    ("alg none", "/poll?topic=news", jwt.encode({"exp": int(time.time()) + 60, **sub_news}, None, algorithm="none"), 401),
    ("HS512", "/poll?topic=news", tok(sub_news, alg="HS512"), 401),
    ("wrong key", "/poll?topic=news", tok(sub_news, key=b"not-the-key"), 401),
    ("tampered payload", "/poll?topic=news", tamper(tok(sub_news)), 401),
    ("expired", "/poll?topic=news", tok(sub_news, ttl=-30), 401),
    ("not yet valid (nbf)", "/poll?topic=news", tok(sub_news, nbf=int(time.time()) + 300), 401),
    ("crit header", "/poll?topic=news", jwt.encode({"exp": int(time.time()) + 60, **sub_news}, KEY, algorithm="HS256", headers={"crit": ["exp"]}), 401),
    ("topic not covered", "/poll?topic=sports", tok(sub_news), 403),
    ("publish not covered", "/publish?topic=news", tok(sub_news), 403),
    ("chat.* vs chat", "/poll?topic=chat", tok({"subscribe": ["chat.*"]}), 403),
    ("chat.* vs chatx", "/poll?topic=chatx", tok({"subscribe": ["chat.*"]}), 403),
    ("chat.* vs chat.a", "/poll?topic=chat.a", tok({"subscribe": ["chat.*"]}), 200),
    ("chat.* vs chat.a.b", "/poll?topic=chat.a.b", tok({"subscribe": ["chat.*"]}), 200),
    ("healthz needs none", "/healthz", None, 200),
    ("demo page needs none", "/", None, 200),
]
for name, path, token, want in cases:
    method = "POST" if path.startswith("/publish") else "GET"
    code, body = curl(path, token, method, "x" if method == "POST" else None, extra=("-i",))
    ok = code == want
    if want == 401:
        ok = ok and "www-authenticate: bearer" in body.lower()
    if token:
        ok = ok and token not in body
    check(f"{name} -> {want}", ok, (code, body[:200]))

# 3. A WebSocket without the publish right is closed 1008 on its first message.
async def no_publish():
    async with connect(f"wss://localhost:{PORT}/ws?topic=news&token={tok(sub_news)}", ssl=ssl_ctx) as ws:
        await ws.send("sneaky")
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None
check("/ws without publish right: message closes it with 1008", asyncio.run(no_publish()) == 1008)

# 4. A WebSocket whose token expires 2 s after connecting is closed with 1008 within 3 s.
async def expiry():
    # exp is whole seconds: 2 s from now rounded down, so it expires 1-2 s after connecting
    t = jwt.encode({"exp": int(time.time()) + 2, **sub_news}, KEY, algorithm="HS256")
    t0 = time.monotonic()
    async with connect(f"wss://localhost:{PORT}/ws?topic=news&token={t}", ssl=ssl_ctx) as ws:
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as e:
            return (e.rcvd.code if e.rcvd else None), time.monotonic() - t0
code, took = asyncio.run(expiry())
check(f"expiring token: WebSocket closed 1008 after {took:.2f} s (<= 3 s)", code == 1008 and took <= 3.0, (code, took))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY

# SIGHUP reloads the pair for new connections; a pair that fails to load keeps the old one.
serial() {
  openssl s_client -connect "127.0.0.1:$PORT" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -serial
}
hup_ok=0; hup_fail=0
hcheck() { if eval "$2"; then hup_ok=$((hup_ok + 1)); echo "ok   - $1"; else hup_fail=$((hup_fail + 1)); echo "FAIL - $1"; fi; }
S1=$(serial)
# a new certificate with the old key: a mismatched pair, refused as a whole
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$WORK/leaf2.key" -out "$WORK/leaf2.csr" 2>/dev/null
openssl x509 -req -in "$WORK/leaf2.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
  -CAcreateserial -days 2 -extfile "$WORK/ext" -out "$WORK/leaf2.pem" 2>/dev/null
cat "$WORK/leaf2.pem" "$WORK/ca.pem" >"$WORK/chain.pem"
kill -HUP "$PID"; sleep 0.5
hcheck "SIGHUP with a mismatched pair: logged, old pair kept" \
  '[ "$(serial)" = "$S1" ] && grep -q "TLS reload failed" "$LOG"'
hcheck "still serving https after the failed reload" \
  '[ "$(curl -sS --cacert "$WORK/ca.pem" -o /dev/null -w "%{http_code}" "https://localhost:$PORT/healthz")" = 200 ]'
cp "$WORK/leaf2.key" "$WORK/leaf.key"
kill -HUP "$PID"; sleep 0.5
hcheck "SIGHUP with a good pair: new connections get the new certificate" \
  '[ -n "$S1" ] && [ "$(serial)" != "$S1" ] && grep -q "TLS certificate and key reloaded" "$LOG"'
hcheck "https works with the reloaded certificate" \
  '[ "$(curl -sS --cacert "$WORK/ca.pem" -o /dev/null -w "%{http_code}" "https://localhost:$PORT/healthz")" = 200 ]'
echo "reload: $hup_ok passed, $hup_fail failed"
[ "$hup_fail" = 0 ]

# Chromium (Debian's, driven by playwright-core from .ci/install-browser.sh) runs the demo
# page over HTTPS with auth on: /?token=T reaches all four panels over https:// and wss://.
if [ -x /usr/bin/chromium ] && [ -f .ci/node_modules/playwright-core/package.json ]; then
  BTOKEN=$(WORK=$WORK .ci/venv-tls/bin/python -W ignore -c '
import os, time, jwt
key = open(os.environ["WORK"] + "/secret", "rb").read()[:-1]
print(jwt.encode({"exp": int(time.time()) + 600, "sub": "chromium",
                  "subscribe": ["browser.*"], "publish": ["browser.*"]}, key, algorithm="HS256"))')
  PORT=$PORT BTOKEN=$BTOKEN NODE_PATH="$ROOT/.ci/node_modules" timeout 120 node - <<'JS'
"use strict";
const { chromium } = require("playwright-core");
const PORT = Number(process.env.PORT), TOKEN = process.env.BTOKEN;
(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  let failed = 0;
  try {
    const page = await browser.newPage();
    await page.goto(`https://localhost:${PORT}/?topic=browser.tls&token=${TOKEN}`);
    const open = await page.waitForFunction(() => {
      const d = window.pushwireDemo;
      return d && d.short.requests >= 2 && d.long.requests >= 1 &&
        d.ws.state.textContent === "open" && d.sse.state.textContent === "open";
    }, null, { timeout: 15000 }).then(() => true, () => false);
    console.log((open ? "ok   - " : "FAIL - ") + "chromium: demo page over https with a token, all four panels connected");
    if (!open) failed++;
    await new Promise(r => setTimeout(r, 500));
    await page.fill("#publish-input", "hello over https");
    await page.click("#publish-btn");
    for (const p of ["short", "long", "ws", "sse"]) {
      const ok = await page.waitForFunction(
        p => window.pushwireDemo[p].received.includes("hello over https"), p,
        { timeout: 15000 }).then(() => true, () => false);
      console.log((ok ? "ok   - " : "FAIL - ") + `chromium: ${p} panel receives the publish over TLS`);
      if (!ok) failed++;
    }
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})().catch(e => { console.error(e); process.exit(1); });
JS
else
  echo "skip - chromium demo over https (run .ci/install-browser.sh first)"
fi

# Listening on a non-loopback address without a secret prints a warning on stderr.
"$BIN" --addr 0.0.0.0:0 >"$WORK/open.out" 2>"$WORK/open.err" &
OPID=$!
for _ in $(seq 1 50); do grep -q "^listening on" "$WORK/open.out" && break; sleep 0.1; done
kill "$OPID" 2>/dev/null || true; wait "$OPID" 2>/dev/null || true
if grep -q "warning: listening on 0.0.0.0:.* without --auth-secret-file" "$WORK/open.err"; then
  echo "ok   - non-loopback address without a secret: warning on stderr"
else
  echo "FAIL - no warning for a non-loopback address without a secret"; cat "$WORK/open.err"; exit 1
fi
