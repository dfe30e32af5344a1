#!/usr/bin/env bash
# A real browser against the release binary: Debian's Chromium driven by playwright-core.
#  1. the demo page: a publish (box and WebSocket send box) reaches all four panels;
#  2. an EventSource whose connection is cut reconnects with Last-Event-ID and gets what it
#     missed (the cut is made by a TCP relay between browser and server, the browser sees the
#     server's side of the connection vanish);
#  3. a WebSocket opened from a page of a foreign origin is refused;
#  4. permessage-deflate: Chromium's WebSocket negotiates it with the server on /echo and /ws
#     (`ws.extensions`), a JSON message round-trips, and a TCP relay that records the server's
#     bytes shows the message really went compressed (RSV1 on its frame, fewer bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
cargo build --release --bin pushwire
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LOG=$(mktemp)
"$TARGET/release/pushwire" --addr 127.0.0.1:0 >"$LOG" 2>&1 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT
PORT=
for _ in $(seq 1 100); do
  PORT=$(sed -n 's#^listening on http://127\.0\.0\.1:\([0-9]*\)$#\1#p' "$LOG" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { echo "server did not print its address"; cat "$LOG"; exit 1; }
echo "pushwire on port $PORT"
PORT=$PORT NODE_PATH="$ROOT/.ci/node_modules" timeout 180 node - <<'JS'
"use strict";
const { chromium } = require("playwright-core");
const http = require("http");
const net = require("net");
const PORT = Number(process.env.PORT);
const BASE = `http://127.0.0.1:${PORT}`;
let passed = 0, failed = 0;
function check(name, ok, detail) {
  if (ok) { passed++; console.log("ok   - " + name); }
  else { failed++; console.log("FAIL - " + name + (detail ? ": " + detail : "")); }
}
function publish(topic, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${BASE}/publish?topic=${topic}`, { method: "POST" }, res => {
      let d = ""; res.on("data", c => d += c); res.on("end", () => resolve(JSON.parse(d).id));
    });
    req.on("error", reject); req.end(body);
  });
}
const sleep = ms => new Promise(r => setTimeout(r, ms));
function listen(server) {
  return new Promise(r => server.listen(0, "127.0.0.1", () => r(server.address().port)));
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    // 1. The demo page: four panels receive one publish.
    const page = await browser.newPage();
    await page.goto(`${BASE}/?topic=browser`);
    await page.waitForFunction(() => {
      const d = window.pushwireDemo;
      return d && d.short.requests >= 2 && d.long.requests >= 1 &&
        d.ws.state.textContent === "open" && d.sse.state.textContent === "open";
    }, null, { timeout: 15000 });
    await sleep(500);
    await page.fill("#publish-input", "hello from the publish box");
    await page.click("#publish-btn");
    for (const p of ["short", "long", "ws", "sse"]) {
      const ok = await page.waitForFunction(
        p => window.pushwireDemo[p].received.includes("hello from the publish box"), p,
        { timeout: 15000 }).then(() => true, () => false);
      check(`demo page: ${p} panel receives the published message`, ok);
    }
    await page.fill("#ws-input", "typed in the websocket box");
    await page.click("#ws-send");
    for (const p of ["short", "long", "ws", "sse"]) {
      const ok = await page.waitForFunction(
        p => window.pushwireDemo[p].received.includes("typed in the websocket box"), p,
        { timeout: 15000 }).then(() => true, () => false);
      check(`demo page: ${p} panel receives the WebSocket-sent message`, ok);
    }
    const delays = await page.evaluate(() => ["short", "long", "ws", "sse"].map(p => window.pushwireDemo[p].delay.textContent));
    check("demo page: every panel shows a delay", delays.every(d => /ms$/.test(d)), delays.join(","));
    await page.close();

    // 2. EventSource cut mid-stream: reconnects with Last-Event-ID, gets what it missed.
    const sockets = new Set();
    let sawLastEventId = null;
    const relay = net.createServer(client => {
      const upstream = net.connect(PORT, "127.0.0.1");
      sockets.add(client); sockets.add(upstream);
      client.on("data", d => {
        const m = /last-event-id: *([^\r\n]*)/i.exec(d.toString("latin1"));
        if (m) sawLastEventId = m[1];
      });
      client.pipe(upstream); upstream.pipe(client);
      const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
      client.on("error", drop); upstream.on("error", drop); client.on("close", drop); upstream.on("close", drop);
    });
    const relayPort = await listen(relay);
    const es = await browser.newPage();
    await es.goto(`http://127.0.0.1:${relayPort}/healthz`);
    await es.evaluate(() => {
      window.got = []; window.opens = 0;
      const s = new EventSource("/events?topic=es-browser");
      s.onopen = () => window.opens++;
      s.onmessage = e => window.got.push([e.lastEventId, e.data]);
    });
    await es.waitForFunction(() => window.opens === 1, null, { timeout: 10000 });
    const id1 = await publish("es-browser", "m1");
    await es.waitForFunction(() => window.got.length === 1, null, { timeout: 10000 });
    for (const s of sockets) s.destroy();
    sockets.clear();
    const id2 = await publish("es-browser", "m2");
    const id3 = await publish("es-browser", "m3");
    const back = await es.waitForFunction(() => window.got.length >= 3 && window.opens >= 2, null,
      { timeout: 20000 }).then(() => true, () => false);
    const got = await es.evaluate(() => window.got);
    check("EventSource reconnects after the cut", back, JSON.stringify(got));
    check("EventSource sent Last-Event-ID of the last event it saw", sawLastEventId === id1, `${sawLastEventId} vs ${id1}`);
    check("EventSource receives exactly what it missed, in order",
      JSON.stringify(got) === JSON.stringify([[id1, "m1"], [id2, "m2"], [id3, "m3"]]), JSON.stringify(got));
    await es.close();
    relay.close();

    // 3. A WebSocket from a foreign origin is refused; the own origin's is accepted.
    const foreign = http.createServer((q, s) => { s.setHeader("content-type", "text/html"); s.end("<p>elsewhere</p>"); });
    const foreignPort = await listen(foreign);
    const fp = await browser.newPage();
    await fp.goto(`http://127.0.0.1:${foreignPort}/`);
    const outcome = await fp.evaluate(url => new Promise(resolve => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve("open");
      ws.onclose = e => resolve("closed " + e.code);
      setTimeout(() => resolve("timeout"), 8000);
    }), `ws://127.0.0.1:${PORT}/ws?topic=foreign`);
    check("WebSocket from a foreign origin is refused", outcome === "closed 1006", outcome);
    await fp.goto(`${BASE}/healthz`);
    const own = await fp.evaluate(url => new Promise(resolve => {
      const ws = new WebSocket(url);
      ws.onopen = () => { ws.close(); resolve("open"); };
      ws.onclose = e => resolve("closed " + e.code);
      setTimeout(() => resolve("timeout"), 8000);
    }), `ws://127.0.0.1:${PORT}/ws?topic=foreign`);
    check("WebSocket from the server's own origin is accepted", own === "open", own);
    foreign.close();

    // 4. permessage-deflate with Chromium, through a relay that records what the server
    // sends on each connection (the page is loaded through it too: same origin).
    const fromServer = [];
    const wsRelay = net.createServer(client => {
      const upstream = net.connect(PORT, "127.0.0.1");
      const chunks = [];
      fromServer.push(chunks);
      upstream.on("data", d => chunks.push(d));
      client.pipe(upstream); upstream.pipe(client);
      const drop = () => { client.destroy(); upstream.destroy(); };
      client.on("error", drop); upstream.on("error", drop);
    });
    const wsRelayPort = await listen(wsRelay);
    const dp = await browser.newPage();
    await dp.goto(`http://127.0.0.1:${wsRelayPort}/healthz`);
    const results = await dp.evaluate(async () => {
      const json = JSON.stringify(Array.from({ length: 100 },
        (_, i) => ({ seq: i, topic: "prices", value: (i * 31) % 977 })));
      const run = path => new Promise(resolve => {
        const ws = new WebSocket(`ws://${location.host}${path}`);
        ws.onopen = () => ws.send(json);
        ws.onmessage = e => { resolve({ ext: ws.extensions, same: e.data === json, len: json.length }); ws.close(); };
        ws.onclose = e => resolve({ ext: ws.extensions, closed: e.code });
        setTimeout(() => resolve({ timeout: true }), 10000);
      });
      return { echo: await run("/echo"), ws: await run("/ws?topic=deflate-browser") };
    });
    await dp.close();
    await sleep(200);
    wsRelay.close();
    // The server's data frames on each upgraded connection: [rsv1, payload length].
    const frames = fromServer.map(chunks => Buffer.concat(chunks)).filter(b => b.toString("latin1", 0, 12) === "HTTP/1.1 101")
      .map(b => {
        let i = b.indexOf("\r\n\r\n") + 4;
        const out = [];
        while (i + 2 <= b.length) {
          const op = b[i] & 0x0f, rsv1 = (b[i] & 0x40) !== 0;
          let len = b[i + 1] & 0x7f, h = 2;
          if (len === 126) { len = b.readUInt16BE(i + 2); h = 4; }
          else if (len === 127) { len = Number(b.readBigUInt64BE(i + 2)); h = 10; }
          if (op === 1 || op === 2) out.push([rsv1, len]);
          i += h + len;
        }
        return out;
      });
    for (const [name, r] of Object.entries(results)) {
      check(`deflate: Chromium negotiates permessage-deflate on /${name}`,
        typeof r.ext === "string" && r.ext.startsWith("permessage-deflate"), JSON.stringify(r));
      check(`deflate: a JSON message round-trips compressed on /${name}`, r.same === true, JSON.stringify(r));
    }
    const len = results.echo.len;
    console.log(`     Chromium's ws.extensions: "${results.echo.ext}"; server data frames [rsv1, bytes]: ` +
      `${JSON.stringify(frames)} for a ${len}-byte message`);
    check("deflate: the server's frames went compressed (RSV1, under half the bytes) on both connections",
      frames.length === 2 && frames.every(f => f.length === 1 && f[0][0] && f[0][1] < len / 2),
      JSON.stringify(frames));
  } finally {
    await browser.close();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})().catch(e => { console.error(e); console.log("0 passed, 1 failed"); process.exit(1); });
JS
