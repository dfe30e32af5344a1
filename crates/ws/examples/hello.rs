//! A server and a client in one process: the client says hello, the server answers, both
//! close cleanly.
//!
//! `cargo run -p pushwire-ws --example hello`

use pushwire_ws::{CloseCode, Config, Message, WebSocket};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), pushwire_ws::Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/chat", listener.local_addr()?);

    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        // Reads the HTTP request head, answers 101 (or 400/426), then speaks WebSocket.
        let mut ws = WebSocket::accept_stream(tcp, Config::default()).await?;
        while let Some(msg) = ws.recv().await? {
            if let Message::Text(t) = &msg {
                ws.send(&Message::text(format!("server got: {t}"))).await?;
            }
        }
        // `recv` returned `None`: the client closed and the handshake is complete.
        Ok::<_, pushwire_ws::Error>(ws.peer_close())
    });

    let mut ws = WebSocket::connect(&url, Config::default()).await?;
    ws.send(&Message::text("hello")).await?;
    if let Some(reply) = ws.recv().await? {
        println!("client got: {reply:?}");
    }
    ws.close(CloseCode::NORMAL, "bye").await?;
    let peer_close = server.await.map_err(|_| pushwire_ws::Error::Internal)??;
    println!("server saw the close: {peer_close:?}");
    Ok(())
}
