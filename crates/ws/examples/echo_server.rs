//! A WebSocket echo server: every text or binary message comes back unchanged.
//!
//! `cargo run --release -p pushwire-ws --example echo_server -- 9001` listens on
//! 127.0.0.1:9001 (port 0 picks a free one; the `listening on` line shows it) with the
//! default limits (16 MiB frames, 64 MiB messages). Used by the Autobahn `fuzzingclient`.

use pushwire_ws::{Config, WebSocket};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p
            .parse()
            .map_err(|_| std::io::Error::other("port must be a number"))?,
        None => 9001,
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        tcp.set_nodelay(true)?;
        tokio::spawn(async move {
            let mut ws = match WebSocket::accept_stream(tcp, Config::default()).await {
                Ok(ws) => ws,
                Err(e) => return eprintln!("handshake: {e}"),
            };
            while let Ok(Some(msg)) = ws.recv().await {
                if ws.send(&msg).await.is_err() {
                    break;
                }
            }
        });
    }
}
