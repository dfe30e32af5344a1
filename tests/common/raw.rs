//! Minimal raw HTTP, SSE and WebSocket clients for the end-to-end tests (raw so that tests
//! can also send what no library would). Shared by the root package's tests and
//! pushwire-redis's cluster tests, which include this file by path.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Failure guard for every wait (never a timing assertion).
pub const GUARD: Duration = Duration::from_secs(10);

pub async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Buffered reader of responses on one connection.
pub struct Client {
    pub s: TcpStream,
    pub buf: Vec<u8>,
}

impl Client {
    pub async fn new(addr: SocketAddr) -> Client {
        Client {
            s: connect(addr).await,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, raw: &[u8]) {
        self.s.write_all(raw).await.unwrap();
    }

    /// Reads more bytes; false on EOF or error.
    pub async fn fill(&mut self) -> bool {
        let mut tmp = [0u8; 16384];
        match tokio::time::timeout(GUARD, self.s.read(&mut tmp)).await {
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(_) => panic!("no data within the guard time"),
        }
    }

    /// Reads one response head (and its Content-Length body unless `head_only`).
    pub async fn response_opt(&mut self, head_only: bool) -> Option<Resp> {
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_string(), v.trim().to_string())
            })
            .collect();
        let mut r = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || status == 101 || status == 304 || status == 204 || status < 200 {
            return Some(r);
        }
        if let Some(len) = r.header("content-length") {
            let len: usize = len.parse().unwrap();
            while self.buf.len() < len {
                if !self.fill().await {
                    panic!("body cut short");
                }
            }
            r.body = self.buf.drain(..len).collect();
        }
        Some(r)
    }

    pub async fn response(&mut self) -> Resp {
        self.response_opt(false)
            .await
            .expect("connection closed before a response")
    }

    /// True when the server closes the connection (EOF) within the guard time.
    pub async fn closed(&mut self) -> bool {
        let mut tmp = [0u8; 4096];
        loop {
            match tokio::time::timeout(GUARD, self.s.read(&mut tmp)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.buf.extend_from_slice(&tmp[..n]),
                Err(_) => return false,
            }
        }
    }
}

pub fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// One request on a fresh connection.
pub async fn request(addr: SocketAddr, raw: &[u8]) -> Resp {
    let mut c = Client::new(addr).await;
    c.send(raw).await;
    c.response().await
}

pub async fn get(addr: SocketAddr, target: &str) -> Resp {
    request(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    )
    .await
}

pub async fn post(addr: SocketAddr, target: &str, body: &[u8]) -> Resp {
    let mut raw = format!(
        "POST {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    request(addr, &raw).await
}

/// Publishes and returns the new id.
pub async fn publish(addr: SocketAddr, topic: &str, body: &[u8]) -> String {
    let r = post(addr, &format!("/publish?topic={topic}"), body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_string()
}

/// `(id, data)` pairs of a poll answer, and `next`, `missed`.
pub fn batch(r: &Resp) -> (Vec<(String, String)>, String, bool) {
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let msgs = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_string(),
                m["data"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (
        msgs,
        v["next"].as_str().unwrap().to_string(),
        v["missed"].as_bool().unwrap(),
    )
}

// ---- SSE ----

#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

pub struct SseClient {
    pub c: Client,
    pub retry: Option<u64>,
    pub resp: Resp,
}

impl SseClient {
    pub async fn open(addr: SocketAddr, target: &str, extra: &str) -> SseClient {
        let mut c = Client::new(addr).await;
        c.send(
            format!(
                "GET {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{extra}\r\n"
            )
            .as_bytes(),
        )
        .await;
        let resp = c.response_opt(true).await.unwrap();
        SseClient {
            c,
            retry: None,
            resp,
        }
    }

    /// Next dispatched event (comments and retry-only blocks skipped); None at EOF.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(i) = find(&self.c.buf, b"\n\n") {
                let block: Vec<u8> = self.c.buf.drain(..i + 2).collect();
                let text = String::from_utf8(block).unwrap();
                let mut ev = Sse {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut has_data = false;
                for line in text.lines() {
                    if line.starts_with(':') || line.is_empty() {
                        continue;
                    }
                    let (f, v) = line.split_once(':').unwrap_or((line, ""));
                    let v = v.strip_prefix(' ').unwrap_or(v);
                    match f {
                        "event" => ev.event = v.to_string(),
                        "id" => ev.id = Some(v.to_string()),
                        "retry" => self.retry = v.parse().ok(),
                        "data" => {
                            if has_data {
                                ev.data.push('\n');
                            }
                            ev.data.push_str(v);
                            has_data = true;
                        }
                        _ => {}
                    }
                }
                if has_data {
                    return Some(ev);
                }
                continue;
            }
            if !self.c.fill().await {
                return None;
            }
        }
    }
}

// ---- WebSocket ----

pub struct Ws {
    pub c: Client,
    pub resp: Resp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
}

pub fn upgrade_request(addr: SocketAddr, target: &str, extra: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

impl Ws {
    /// Upgrades; panics unless 101.
    pub async fn open(addr: SocketAddr, target: &str) -> Ws {
        let (ws, status) = Ws::try_open(addr, target, "").await;
        assert_eq!(status, 101, "upgrade refused");
        ws
    }

    pub async fn try_open(addr: SocketAddr, target: &str, extra: &str) -> (Ws, u16) {
        let mut c = Client::new(addr).await;
        c.send(upgrade_request(addr, target, extra).as_bytes())
            .await;
        let resp = c.response_opt(false).await.unwrap();
        let status = resp.status;
        if status == 101 {
            assert_eq!(
                resp.header("sec-websocket-accept"),
                Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            );
        }
        (Ws { c, resp }, status)
    }

    pub async fn send_frame(&mut self, b0: u8, payload: &[u8]) {
        self.c.send(&masked_frame(b0, payload)).await;
    }

    pub async fn send_text(&mut self, t: &str) {
        self.send_frame(0x81, t.as_bytes()).await;
    }

    /// Next frame from the server; None at EOF.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some((f, used)) = parse_server_frame(&self.c.buf) {
                self.c.buf.drain(..used);
                return Some(f);
            }
            if !self.c.fill().await {
                return None;
            }
        }
    }

    /// Next data frame, answering nothing and skipping pings.
    pub async fn next_data(&mut self) -> Option<Frame> {
        loop {
            match self.next().await? {
                Frame::Ping(_) | Frame::Pong(_) => continue,
                f => return Some(f),
            }
        }
    }
}

pub fn masked_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut v = vec![b0];
    let len = payload.len();
    if len < 126 {
        v.push(0x80 | len as u8);
    } else if len <= 0xffff {
        v.push(0x80 | 126);
        v.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        v.push(0x80 | 127);
        v.extend_from_slice(&(len as u64).to_be_bytes());
    }
    v.extend_from_slice(&mask);
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    v
}

fn parse_server_frame(b: &[u8]) -> Option<(Frame, usize)> {
    if b.len() < 2 {
        return None;
    }
    assert_eq!(b[1] & 0x80, 0, "server frames must not be masked");
    let (len, at) = match b[1] & 0x7f {
        126 => (u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize, 4),
        127 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b.get(2..10)?);
            (u64::from_be_bytes(a) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let payload = b.get(at..at + len)?.to_vec();
    assert_ne!(b[0] & 0x80, 0, "server sends unfragmented frames");
    let f = match b[0] & 0x0f {
        1 => Frame::Text(String::from_utf8(payload).unwrap()),
        2 => Frame::Binary(payload),
        8 => {
            Frame::Close((payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])))
        }
        9 => Frame::Ping(payload),
        10 => Frame::Pong(payload),
        op => panic!("unexpected opcode {op}"),
    };
    Some((f, at + len))
}
