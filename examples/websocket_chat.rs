//! WebSocket chat: every message a client sends on `/ws?topic=chat` is broadcast to the whole
//! connection pool (the hub encodes the frame once and shares it).
//!
//! ```sh
//! cargo run --example websocket_chat   # then open http://127.0.0.1:3000 in two tabs
//! ```

use pushwire::server::{Config, Server, shutdown_signal};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>websocket chat</title>
<h1>WebSocket chat</h1><p id="s">connecting</p>
<form id="f"><input id="t" placeholder="say something" autocomplete="off"> <button>Send</button></form><ul id="log"></ul>
<script>
const ws = new WebSocket("ws://" + location.host + "/ws?topic=chat");
ws.onopen = () => document.getElementById("s").textContent = "connected";
ws.onclose = e => document.getElementById("s").textContent = "closed " + e.code;
ws.onmessage = e => { const li = document.createElement("li"); li.textContent = e.data;
  document.getElementById("log").prepend(li); };
document.getElementById("f").onsubmit = e => { e.preventDefault();
  const t = document.getElementById("t"); if (t.value) ws.send(t.value); t.value = ""; };
</script>"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut cfg = Config::default();
    cfg.index_page = Some(PAGE);
    let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    Server::new(cfg).run(listener, shutdown_signal()).await
}
