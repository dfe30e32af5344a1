//! A small event-stream server built on pushwire-sse's encoder and pushwire-http, used by
//! the interop suite (`.ci/suite-sse-interop.sh`) to check that third-party clients read
//! exactly what we encode.
//!
//! ```text
//! cargo run -p pushwire-sse --example sse_serve -- [127.0.0.1:0]
//! ```
//!
//! Prints `listening on http://ADDR`. `GET /events` answers a chunked event stream: a
//! `retry: 50` hint, then at most three events of a fixed list of awkward ones (line breaks
//! of every kind, empty data, a leading space, non-BMP text, a trailing newline), then ends
//! the body so the client has to reconnect and resume with `Last-Event-ID`. Once the final
//! `done` event is sent the stream stays open, with a keep-alive comment every second.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushwire_http::io::read_request_head;
use pushwire_http::{
    HeadParser, Limits, ResponseHead, encode_chunk, encode_last_chunk, encode_response_head,
};
use pushwire_sse::{Event, keep_alive, response_head, retry_hint};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Events sent per connection before the body ends.
const PER_CONNECTION: usize = 3;

fn events() -> Result<Vec<(String, Bytes)>, pushwire_sse::Error> {
    let list = [
        Event::new("hello").with_id("1")?,
        Event::new("line1\nline2\r\nline3\rline4")
            .with_id("2")?
            .with_event("multi")?,
        Event::new("").with_id("3")?,
        Event::new(" leading space: and colon").with_id("4")?,
        Event::new("unicode \u{e9} \u{1F600} \u{2028} \"quoted\" back\\slash\ttab")
            .with_id("5")?
            .with_event("uni")?,
        Event::new("trailing newline\n").with_id("6")?,
        Event::new("done").with_id("7")?.with_event("done")?,
    ];
    // Encoded once; every connection writes the same Bytes.
    Ok(list
        .iter()
        .map(|e| (e.id().unwrap_or_default().to_owned(), e.to_bytes()))
        .collect())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let events = Arc::new(events()?);
    loop {
        let (sock, _) = listener.accept().await?;
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(sock, &events).await {
                eprintln!("connection error: {e}");
            }
        });
    }
}

async fn serve(
    mut sock: TcpStream,
    events: &[(String, Bytes)],
) -> Result<(), Box<dyn std::error::Error>> {
    sock.set_nodelay(true)?;
    let limits = Limits::default();
    let mut buf = BytesMut::new();
    let mut parser = HeadParser::new(&limits);
    let Some(req) = read_request_head(&mut sock, &mut buf, &mut parser).await? else {
        return Ok(());
    };
    let mut out = BytesMut::new();
    if req.path() != "/events" {
        let head = ResponseHead::new(404).header("Content-Length", "0")?;
        encode_response_head(&head, &mut out)?;
        sock.write_all(&out).await?;
        return Ok(());
    }
    let start = match req.headers.get_str("last-event-id") {
        Some(id) => events
            .iter()
            .position(|(i, _)| i == id)
            .map_or(0, |p| p + 1),
        None => 0,
    };
    let head = response_head().header("Transfer-Encoding", "chunked")?;
    encode_response_head(&head, &mut out)?;
    encode_chunk(&retry_hint(Duration::from_millis(50)), &mut out);
    encode_chunk(&keep_alive(), &mut out);
    sock.write_all(&out).await?;
    let end = (start + PER_CONNECTION).min(events.len());
    for (_, bytes) in events.get(start..end).unwrap_or_default() {
        out.clear();
        encode_chunk(bytes, &mut out);
        sock.write_all(&out).await?;
        sock.flush().await?;
    }
    if end < events.len() {
        out.clear();
        encode_last_chunk(&mut out);
        sock.write_all(&out).await?;
        return Ok(());
    }
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        out.clear();
        encode_chunk(&keep_alive(), &mut out);
        sock.write_all(&out).await?;
    }
    Ok(())
}
