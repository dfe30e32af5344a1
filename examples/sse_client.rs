//! Reads a Server-Sent Events stream with pushwire-sse's reconnecting EventSource.
//!
//! ```text
//! cargo run --example sse_client -- URL [--last-event-id ID]
//! ```
//!
//! stdout: one JSON line per event, exactly `{"type":"...","data":"...","id":"..."}`, flushed
//! per event (`id` is the event's `lastEventId`: the stream's last event id, `""` if none).
//! stderr: connection state changes. Runs until interrupted; exits 1 if the connection
//! fails for good (non-200, wrong content type, 204, ...), 2 on bad arguments.

use std::io::Write;
use std::process::ExitCode;

use pushwire::sse::client::{ClientEvent, EventSource};

fn usage() -> ExitCode {
    eprintln!("usage: sse_client URL [--last-event-id ID]");
    ExitCode::from(2)
}

/// Appends `s` as a JSON string literal: quotes, backslash and every control character
/// escaped (controls as `\u00XX`), everything else, non-BMP characters included, as UTF-8.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_line(event_type: &str, data: &str, id: &str) -> String {
    let mut line = String::with_capacity(data.len() + event_type.len() + id.len() + 32);
    line.push_str("{\"type\":");
    push_json_string(&mut line, event_type);
    line.push_str(",\"data\":");
    push_json_string(&mut line, data);
    line.push_str(",\"id\":");
    push_json_string(&mut line, id);
    line.push_str("}\n");
    line
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut last_event_id = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--last-event-id" => match args.next() {
                Some(id) => last_event_id = Some(id),
                None => return usage(),
            },
            a if a.starts_with("--last-event-id=") => {
                last_event_id = a.strip_prefix("--last-event-id=").map(str::to_owned);
            }
            "-h" | "--help" => return usage(),
            _ if url.is_none() => url = Some(arg),
            _ => return usage(),
        }
    }
    let Some(url) = url else { return usage() };
    let mut builder = EventSource::builder(&url);
    if let Some(id) = &last_event_id {
        builder = builder.last_event_id(id);
    }
    let mut es = match builder.connect() {
        Ok(es) => es,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!("connecting to {}", es.url());
    let stdout = std::io::stdout();
    loop {
        let item = tokio::select! {
            item = es.next() => item,
            _ = tokio::signal::ctrl_c() => {
                es.close();
                eprintln!("closed");
                return ExitCode::SUCCESS;
            }
        };
        match item {
            Some(ClientEvent::Message { event, .. }) => {
                let line = json_line(&event.event_type, &event.data, &event.last_event_id);
                let mut out = stdout.lock();
                if out
                    .write_all(line.as_bytes())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    // stdout closed (e.g. piped into `head`): nothing left to do.
                    return ExitCode::SUCCESS;
                }
            }
            Some(ClientEvent::Open { origin }) => eprintln!("open ({origin})"),
            Some(ClientEvent::Reconnecting { error, delay }) => match error {
                Some(e) => eprintln!("reconnecting in {} ms ({e})", delay.as_millis()),
                None => eprintln!("reconnecting in {} ms (stream ended)", delay.as_millis()),
            },
            Some(ClientEvent::Skipped(e)) => eprintln!("event skipped: {e}"),
            Some(ClientEvent::Failed(e)) => {
                eprintln!("failed: {e}");
                return ExitCode::from(1);
            }
            Some(_) => {}
            None => {
                eprintln!("closed");
                return ExitCode::from(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_escape_by_hand_and_parse_back() {
        let data = "q\"b\\s/\n\r\t\0\u{1f}\u{7f}\u{e9}\u{1F600}\u{2028}";
        let line = json_line("message", data, "id\"1");
        assert!(line.ends_with("}\n"));
        assert_eq!(line.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["data"], data);
        assert_eq!(v["id"], "id\"1");
        assert_eq!(
            json_line("t", "a\nb", ""),
            "{\"type\":\"t\",\"data\":\"a\\u000ab\",\"id\":\"\"}\n"
        );
    }
}
