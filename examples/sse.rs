//! Server-Sent Events: `/events?topic=ticks` is one `text/event-stream` response carrying an
//! event every second; the page reads it with `new EventSource`, which reconnects by itself
//! and resumes with `Last-Event-ID`.
//!
//! ```sh
//! cargo run --example sse   # then open http://127.0.0.1:3000
//! ```

use std::time::Duration;

use pushwire::server::{Config, Server, shutdown_signal};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>server-sent events</title>
<h1>Server-Sent Events</h1><p id="s">connecting</p><ul id="log"></ul>
<script>
const es = new EventSource("/events?topic=ticks");
es.onopen = () => document.getElementById("s").textContent = "open";
es.onerror = () => document.getElementById("s").textContent = "reconnecting";
es.onmessage = e => { const li = document.createElement("li");
  li.textContent = e.lastEventId + ": " + e.data; document.getElementById("log").prepend(li); };
</script>"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut cfg = Config::default();
    cfg.index_page = Some(PAGE);
    let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let server = Server::new(cfg);
    let hub = server.hub();
    tokio::spawn(async move {
        let mut n = 0u64;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            n += 1;
            let _ = hub
                .publish("ticks", bytes::Bytes::from(format!("tick {n}")).into())
                .await;
        }
    });
    server.run(listener, shutdown_signal()).await
}
