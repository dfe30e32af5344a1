// The socket.io side of `pushwire-bench cluster`: one socket.io 4 node whose rooms are shared
// with the other nodes through @socket.io/redis-streams-adapter on one Redis.
//
//   node server.js --port 0 --redis redis://127.0.0.1:6379
//
// prints `listening on http://127.0.0.1:PORT` once it serves. Same surface as pushwire's for the
// benchmark: clients connect with the WebSocket transport and a `topic` query parameter (they
// join that room), and `POST /publish?topic=T` emits the body as event "m" to room T on every
// node (the adapter appends it to the Redis stream the other nodes read), then answers 200.
"use strict";
const http = require("http");
const { createClient } = require("redis");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-streams-adapter");

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

async function main() {
  const port = Number(arg("--port", "0"));
  const url = arg("--redis", "redis://127.0.0.1:6379");
  const redis = createClient({ url });
  redis.on("error", (e) => console.error("redis:", e.message));
  await redis.connect();

  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://x");
    if (req.method === "POST" && u.pathname === "/publish") {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const topic = u.searchParams.get("topic") || "default";
        io.to(topic).emit("m", Buffer.concat(chunks).toString("utf8"));
        res.writeHead(200, { "content-type": "application/json", "content-length": 11 });
        res.end('{"ok":true}');
      });
      return;
    }
    res.writeHead(404, { "content-length": 0 });
    res.end();
  });
  server.keepAliveTimeout = 60000;
  const io = new Server(server, {
    adapter: createAdapter(redis),
    transports: ["websocket"],
    serveClient: false,
    perMessageDeflate: false,
  });
  io.on("connection", (socket) => {
    socket.join(String(socket.handshake.query.topic || "default"));
  });
  server.listen(port, "127.0.0.1", () => {
    console.log(`listening on http://127.0.0.1:${server.address().port}`);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
