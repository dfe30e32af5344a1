//! Helpers shared by the server's socket tests.

// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

/// A masked client frame (RFC 6455 §5.2, §5.3); `b0` is the whole first byte (FIN, RSV,
/// opcode), so fragments and final frames are written alike.
pub fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Sends a `/echo` upgrade request on `s` and reads its `101` response; returns what
/// followed the response head (the first frames, if any). Panics on any other answer or if
/// the stream ends first; a failure guard of 10 s stops a silent server.
pub async fn upgrade_echo(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            assert!(buf.starts_with(b"HTTP/1.1 101 "), "no 101");
            buf.drain(..i + 4);
            return buf;
        }
        let mut tmp = [0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut tmp))
            .await
            .expect("guard expired")
            .unwrap();
        assert!(n > 0, "closed before the 101");
        buf.extend_from_slice(&tmp[..n]);
    }
}
