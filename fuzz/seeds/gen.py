#!/usr/bin/env python3
"""Writes the committed seed corpus (fuzz/seeds/<target>/<name>) from RFC and WHATWG examples.

Byte-stream targets take `[4 config bytes][cut count][cuts][data]` (see fuzz/src/lib.rs):
PREFIX below (all zero) = default limits, no cuts. Re-run after changing an example:
    python3 fuzz/seeds/gen.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = b"\0\0\0\0\0"


def put(target, name, data, prefix=PREFIX):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(prefix + data)


def with_cuts(cfg, data, cuts):
    return bytes(cfg) + bytes([len(cuts)]) + b"".join(struct.pack("<H", c) for c in cuts) + data


def mask(key, payload):
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(opcode, payload, fin=True, key=None, rsv=0):
    b0 = (0x80 if fin else 0) | rsv | opcode
    m = 0x80 if key else 0
    n = len(payload)
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if key:
        return head + bytes(key) + mask(key, payload)
    return head + payload


# ---- HTTP requests (RFC 9110 §6, RFC 9112 §3, §6, §7; RFC 6455 §1.2) ----
GET = (b"GET /hello.txt HTTP/1.1\r\nUser-Agent: curl/7.64.1\r\nHost: www.example.com\r\n"
       b"Accept-Language: en, mi\r\n\r\n")
put("http_request", "rfc9110-get", GET)
put("http_request", "pipelined-post-length-then-get",
    b"POST /publish?topic=news HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + GET)
put("http_request", "rfc9112-7-chunked-with-trailer",
    b"POST /publish HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nExpires: never\r\n\r\n" + GET)
put("http_request", "http10-no-host", b"GET / HTTP/1.0\r\n\r\n")
put("http_request", "rfc6455-1-2-upgrade",
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n")
put("http_request", "smuggling-cl-te",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
put("http_request", "long-poll-leading-crlf",
    b"\r\n\r\nGET /long-poll?topic=a&since=q7k2-42&timeout=100 HTTP/1.1\r\nHost: [::1]:3000\r\n"
    b"Connection: keep-alive, Upgrade\r\nExpect: 100-continue\r\n\r\n")
put("http_request", "small-limits-split",
    with_cuts([40, 3, 9, 0x21], GET + GET, [3, 17, 60, 61]), prefix=b"")

# ---- chunked bodies (RFC 9112 §7.1) ----
put("http_chunked", "wiki", b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n")
put("http_chunked", "ext-and-trailer",
    b"5;name=value;x\r\nhello\r\n1 ;y\r\n!\r\n000\r\nExpires: Wed\r\nX-A: b\r\n\r\nNEXT")
put("http_chunked", "sixteen-digits", b"0000000000000001\r\nx\r\n0\r\n\r\n")
put("http_chunked", "roundtrip-mode", with_cuts([0, 0, 0, 1], b"hello world, chunks", [5, 6, 12]),
    prefix=b"")

# ---- SSE (WHATWG HTML §9.2.6 examples) ----
put("sse_parser", "whatwg-stocks", b"data: YHOO\ndata: +2\ndata: 10\n\n")
put("sse_parser", "whatwg-ids",
    b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n")
put("sse_parser", "whatwg-empty-data", b"data\n\ndata\ndata\n\ndata:")
put("sse_parser", "whatwg-space", b"data:test\n\ndata: test\n\n")
put("sse_parser", "whatwg-event-types",
    b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n")
put("sse_parser", "bom-crlf-cr-retry",
    b"\xef\xbb\xbfretry: 3000\r\nid: e-1\r\ndata: a\rdata: b\r\n\r\nid: \x00bad\n\n:\n\xff\xfe\n")
put("sse_parser", "small-limits", with_cuts([8, 16, 4, 4], b"data: 0123456789abcdef\n\nid: 123456789\n\n", [7, 30]),
    prefix=b"")

# ---- WebSocket frames (RFC 6455 §5.7 examples) ----
KEY = [0x37, 0xfa, 0x21, 0x3d]
server = {  # a server receives masked frames
    "rfc6455-5-7-masked-hello": frame(1, b"Hello", key=KEY),
    "fragmented-text-with-ping": frame(1, b"Hel", fin=False, key=KEY) + frame(9, b"ping", key=KEY)
    + frame(0, b"lo", key=KEY),
    "binary-256": frame(2, bytes(range(256)), key=KEY),
    "masked-pong-then-close-1000": frame(10, b"Hello", key=KEY) + frame(8, b"\x03\xe8bye", key=KEY),
    "utf8-split-across-fragments": frame(1, "κό".encode()[:3], fin=False, key=KEY)
    + frame(0, "κό".encode()[3:], key=KEY),
}
client = {  # a client receives unmasked frames
    "rfc6455-5-7-unmasked-hello": frame(1, b"Hello"),
    "rfc6455-5-7-fragmented": bytes([0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]),
    "rfc6455-5-7-ping": frame(9, b"Hello"),
    "binary-256-16bit-length": frame(2, bytes(256)),
    "close-1001-reason": frame(8, b"\x03\xe9going away"),
}
for name, data in server.items():
    put("ws_frame_server", name, data)
    put("ws_differential", name, data)
for name, data in client.items():
    put("ws_frame_client", name, data)

# ---- WebSocket handshake (RFC 6455 §1.2, §4.1, §4.2) ----
put("ws_handshake", "rfc6455-1-2-request",
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n")
put("ws_handshake", "version-8-426",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
    b"Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSec-WebSocket-Version: 8\r\n\r\n")
put("ws_handshake", "client-rfc6455-1-2-response",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\n\r\n", prefix=b"\x01\0\0\0\0")
put("ws_handshake", "client-extension-refused",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
    b"Sec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    prefix=b"\x01\0\0\0\0")

# ---- HTTP responses (RFC 9112 §4, §6.3; what the SSE and WebSocket clients read) ----
put("http_response", "rfc9112-length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
put("http_response", "continue-then-sse-chunked",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Cache-Control: no-store\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"b\r\ndata: hi\n\n\r\n0\r\n\r\n")
put("http_response", "rfc6455-1-2-switching",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n")
put("http_response", "http10-close-delimited", b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil eof")
put("http_response", "304-with-length-then-204",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
put("http_response", "head-method-length", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
    prefix=b"\0\0\x01\0\0")
put("http_response", "te-and-cl", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
