//! permessage-deflate interop client: connects to an echo server, checks that
//! permessage-deflate was negotiated, sends text and binary messages from 0 bytes to 300 KB
//! (JSON-like, so they compress) and checks every echo. Exits non-zero on any difference.
//!
//! `cargo run --release -p pushwire-ws --features deflate --example deflate_client -- ws://127.0.0.1:9001/`

use pushwire_ws::{CloseCode, Config, Message, WebSocket};

fn json(n: usize) -> String {
    let mut s = String::new();
    let mut i = 0u64;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"id\":{i},\"topic\":\"prices\",\"bid\":{}.25,\"note\":\"é✓\"}},",
            i * 7919 % 10007
        ));
        i += 1;
    }
    // Cut on a character boundary.
    while !s.is_char_boundary(n.min(s.len())) {
        s.pop();
    }
    s.truncate(n.min(s.len()));
    s
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".to_owned());
    let mut ws = WebSocket::connect(&url, Config::default()).await?;
    let params = ws
        .deflate()
        .ok_or("permessage-deflate was not negotiated")?;
    println!("negotiated {params:?}");
    let mut n = 0;
    for size in [0usize, 10, 100, 1000, 20_000, 300_000] {
        for msg in [
            Message::text(json(size)),
            Message::binary(json(size).into_bytes()),
        ] {
            ws.send(&msg).await?;
            let got = ws.recv().await?.ok_or("connection closed early")?;
            if got != msg {
                return Err(format!("echo of a {size}-byte message differs").into());
            }
            n += 1;
        }
    }
    ws.close(CloseCode::NORMAL, "done").await?;
    println!("deflate-client: {n} passed, 0 failed");
    Ok(())
}
