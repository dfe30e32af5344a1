//! Long polling: the server holds `GET /long-poll` until there is news (or 25 s pass); the
//! page asks again as soon as it gets an answer. The server publishes every 5 seconds.
//!
//! ```sh
//! cargo run --example long_polling   # then open http://127.0.0.1:3000
//! ```

use std::time::Duration;

use pushwire::server::{Config, Server, shutdown_signal};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>long polling</title>
<h1>Long polling</h1><p>Each <code>GET /long-poll</code> is held until news; requests so far: <b id="n">0</b>.</p>
<form id="f"><input id="t" placeholder="publish"> <button>Publish</button></form><ul id="log"></ul>
<script>
(async () => {
  let next = null, n = 0;
  for (;;) {
    document.getElementById("n").textContent = ++n;
    try {
      const r = await fetch("/long-poll?topic=news" + (next ? "&since=" + next : ""));
      const b = await r.json();
      for (const m of b.messages) {
        const li = document.createElement("li"); li.textContent = m.id + ": " + m.data;
        document.getElementById("log").prepend(li);
      }
      next = b.next;
    } catch (e) { await new Promise(r => setTimeout(r, 1000)); }
  }
})();
document.getElementById("f").onsubmit = e => { e.preventDefault();
  fetch("/publish?topic=news", { method: "POST", body: document.getElementById("t").value }); };
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
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            n += 1;
            let _ = hub
                .publish("news", bytes::Bytes::from(format!("news #{n}")).into())
                .await;
        }
    });
    server.run(listener, shutdown_signal()).await
}
