//! Short polling: the page asks `/poll` every 3 seconds and the server answers at once, news
//! or not. The server publishes the time every 5 seconds; the box publishes your own text.
//!
//! ```sh
//! cargo run --example short_polling   # then open http://127.0.0.1:3000
//! ```

use std::time::Duration;

use pushwire::server::{Config, Server, shutdown_signal};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>short polling</title>
<h1>Short polling</h1><p>The page calls <code>GET /poll</code> every 3 s; requests so far: <b id="n">0</b>.</p>
<form id="f"><input id="t" placeholder="publish"> <button>Publish</button></form><ul id="log"></ul>
<script>
let next = null, n = 0;
async function poll() {
  document.getElementById("n").textContent = ++n;
  const r = await fetch("/poll?topic=clock" + (next ? "&since=" + next : ""));
  const b = await r.json();
  for (const m of b.messages) {
    const li = document.createElement("li"); li.textContent = m.id + ": " + m.data;
    document.getElementById("log").prepend(li);
  }
  next = b.next;
}
poll(); setInterval(poll, 3000);
document.getElementById("f").onsubmit = e => { e.preventDefault();
  fetch("/publish?topic=clock", { method: "POST", body: document.getElementById("t").value }); };
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
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let _ = hub
                .publish(
                    "clock",
                    bytes::Bytes::from(format!("unix time {now}")).into(),
                )
                .await;
        }
    });
    server.run(listener, shutdown_signal()).await
}
