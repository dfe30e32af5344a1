// WebSocket echo on Node's `ws` with permessage-deflate, the peer of
// `pushwire-bench deflate-echo`:
//
//   node ws-deflate-echo.js [--addr 127.0.0.1:0]
//
// Prints `listening on http://ADDR` like the pushwire binary, then echoes every message on
// any path, text as text, binary as binary, the way ws's README echo example does.
// perMessageDeflate is on with ws's defaults (zlib level 6, no forced context-takeover
// settings: the client's `server_no_context_takeover` offer is accepted) except `threshold`,
// lowered from 1024 to 64 bytes to match pushwire's: every message of the benchmark that
// shrinks is compressed by both servers.
'use strict';

const { WebSocketServer } = require('ws');

let addr = '127.0.0.1:0';
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--addr' && i + 1 < args.length) addr = args[++i];
}
const colon = addr.lastIndexOf(':');
const host = addr.slice(0, colon);
const port = Number(addr.slice(colon + 1));

const wss = new WebSocketServer({
  host,
  port,
  maxPayload: 64 << 20,
  perMessageDeflate: { threshold: 64 },
});

wss.on('listening', () => {
  const a = wss.address();
  process.stdout.write(`listening on http://${a.address}:${a.port}\n`);
});

wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate());
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
