//! The client side: WHATWG "interpret an event stream", incremental and sans-IO.
//!
//! [`EventParser`] is fed the body of an event-stream response in chunks of any size
//! ([`EventParser::feed`]) and hands out what the stream means, in order
//! ([`EventParser::next_item`]): events, `retry` changes, comments, and last-event-id
//! changes of blocks that fire no event. Nothing the stream says is lost, and the result is
//! the same however the body was chunked (rule 7).
//!
//! # How it stays exact and linear
//! Fed bytes are appended to one buffer that always starts at a line start. Line ends are
//! searched only in bytes not searched before (`scanned`), so one 1 MiB line fed in 64 B
//! chunks costs the same as fed whole. A complete line is split into field and value on the
//! raw bytes, then each value is UTF-8 decoded on its own. That is the same as decoding the
//! whole stream first (rule 1): CR, LF and `:` are ASCII, so they never sit inside a valid
//! sequence nor inside a WHATWG "maximal subpart" of an invalid one, and decoding a line
//! never depends on how its bytes arrived.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};

use crate::config::Config;
use crate::error::{CapacityError, Error};

/// The UTF-8 byte order mark, stripped once at the start of each stream (rule 2).
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// One dispatched event, as a browser's `MessageEvent` would carry it (rule 24), minus the
/// origin, which the client adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    /// The event type: the `event` field's value, `"message"` when absent or empty.
    ///
    /// Shared: consecutive events of one type share one allocation.
    pub event_type: Arc<str>,
    /// The data: the `data` lines joined by LF, without the final LF (rule 23).
    pub data: String,
    /// The stream's last event id when the event was dispatched: the latest `id` seen, even
    /// in an earlier event (rule 20), `""` if none.
    pub last_event_id: Arc<str>,
}

/// What an event stream said, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// An event was dispatched (a blank line ended a block with data).
    Event(MessageEvent),
    /// A valid `retry` field set the reconnection time (rule 18), effective at once.
    Retry(Duration),
    /// A comment line (rule 11), without the `:` and without one leading space. Useful to
    /// see keep-alives.
    Comment(String),
    /// A block that fired no event (no data) changed the last event id (rule 21).
    LastEventId(Arc<str>),
}

/// The incremental event-stream parser (WHATWG HTML §9.2.6, SSE-RULES 1-25).
///
/// ```
/// use pushwire_sse::{EventParser, Item};
/// let mut p = EventParser::new();
/// p.feed(b"\xEF\xBB\xBFid: 1\nevent: greet\ndata: hello\r\ndata: world\r");
/// assert_eq!(p.next_item()?, None); // the CR may be the first half of a CRLF
/// p.feed(b"\n\r\n");
/// match p.next_item()? {
///     Some(Item::Event(ev)) => {
///         assert_eq!(&*ev.event_type, "greet");
///         assert_eq!(ev.data, "hello\nworld");
///         assert_eq!(&*ev.last_event_id, "1");
///     }
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(p.next_item()?, None);
/// # Ok::<(), pushwire_sse::Error>(())
/// ```
#[derive(Debug)]
pub struct EventParser {
    /// Fed bytes not yet processed; always starts at a line start.
    buf: BytesMut,
    /// `buf[..scanned]` is known to hold no CR or LF.
    scanned: usize,
    /// At the start of a stream, still deciding whether it begins with a BOM.
    bom_pending: bool,
    /// The last line ended with a CR at the end of the input: an LF next belongs to it
    /// (rule 5).
    skip_lf: bool,
    /// Inside a line that broke `max_line`: its bytes are dropped as they arrive.
    dropping_line: bool,
    fields: Fields,
}

/// The per-stream buffers (rule 9) and everything line processing touches, apart from the
/// input buffer so both can be borrowed at once.
#[derive(Debug)]
struct Fields {
    cfg: Config,
    data: String,
    event_type: String,
    /// The last event ID *buffer* (set by `id` lines).
    id_buf: String,
    /// The source's last event ID *string* (committed at each blank line).
    last_event_id: Arc<str>,
    /// The type of the last dispatched event, reused while it repeats.
    last_type: Arc<str>,
    message: Arc<str>,
    reconnection_time: Option<Duration>,
    /// After a limit error: ignore lines up to the next blank line.
    skipping_block: bool,
}

impl Default for EventParser {
    fn default() -> Self {
        EventParser::new()
    }
}

impl EventParser {
    /// A parser with the default [`Config`].
    pub fn new() -> Self {
        EventParser::with_config(Config::default())
    }

    /// A parser with `cfg` (check it with [`Config::validate`] first; a zero limit simply
    /// refuses everything of that kind).
    pub fn with_config(cfg: Config) -> Self {
        let message: Arc<str> = Arc::from("message");
        EventParser {
            buf: BytesMut::new(),
            scanned: 0,
            bom_pending: true,
            skip_lf: false,
            dropping_line: false,
            fields: Fields {
                cfg,
                data: String::new(),
                event_type: String::new(),
                id_buf: String::new(),
                last_event_id: Arc::from(""),
                last_type: message.clone(),
                message,
                reconnection_time: None,
                skipping_block: false,
            },
        }
    }

    /// Starts from a last event id other than `""` (a client resuming a stream it read
    /// before). `id` should be free of NUL, CR and LF (rule 45).
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        self.fields.id_buf = id.to_owned();
        self.fields.last_event_id = Arc::from(id);
        self
    }

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.fields.cfg
    }

    /// The source's last event id string (rule 20): what a reconnect sends as
    /// `Last-Event-ID` when non-empty (rule 39).
    pub fn last_event_id(&self) -> &Arc<str> {
        &self.fields.last_event_id
    }

    /// The reconnection time the stream asked for with `retry`, if it did (rule 40).
    pub fn reconnection_time(&self) -> Option<Duration> {
        self.fields.reconnection_time
    }

    /// Appends a chunk of the response body. Nothing is parsed until
    /// [`EventParser::next_item`]; feed what one read returned, then drain.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes fed but not processed yet (at most one partial line once drained).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next thing the stream said, `Ok(None)` when more input is needed.
    ///
    /// A [`CapacityError`] is reported once, when a limit is exceeded; the block it happened
    /// in is dropped (no event, no id change) and parsing resumes after the next blank line,
    /// so calling `next_item` again simply goes on.
    pub fn next_item(&mut self) -> Result<Option<Item>, Error> {
        loop {
            if self.bom_pending {
                // Rule 2 and 3: exactly one BOM, only at the very start, maybe split.
                let n = self.buf.len().min(3);
                if self.buf.get(..n) != BOM.get(..n) {
                    self.bom_pending = false;
                } else if n < 3 {
                    return Ok(None);
                } else {
                    self.buf.advance(3);
                    self.bom_pending = false;
                }
            }
            if self.skip_lf {
                // Rule 5: CR at the end of one chunk, LF at the start of the next.
                match self.buf.first() {
                    None => return Ok(None),
                    Some(b'\n') => self.buf.advance(1),
                    Some(_) => {}
                }
                self.skip_lf = false;
            }
            let found = self
                .buf
                .get(self.scanned..)
                .and_then(find_line_end)
                .map(|i| i + self.scanned);
            let Some(end) = found else {
                self.scanned = self.buf.len();
                if self.dropping_line {
                    self.buf.clear();
                    self.scanned = 0;
                } else if self.scanned > self.fields.cfg.max_line {
                    // An over-long partial line: drop what is buffered and the rest as it
                    // comes, so memory stays at the limit whatever the chunking.
                    self.buf.clear();
                    self.scanned = 0;
                    self.dropping_line = true;
                    self.fields.abort_block();
                    return Err(CapacityError::LineTooLong.into());
                }
                return Ok(None);
            };
            // Rule 4: CRLF, LF or a lone CR ends the line.
            let mut consumed = end + 1;
            if self.buf.get(end) == Some(&b'\r') {
                match self.buf.get(end + 1) {
                    Some(b'\n') => consumed += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            let result = if self.dropping_line {
                self.dropping_line = false;
                Ok(None)
            } else if end > self.fields.cfg.max_line {
                self.fields.abort_block();
                Err(CapacityError::LineTooLong.into())
            } else {
                self.fields
                    .process_line(self.buf.get(..end).unwrap_or_default())
            };
            self.buf.advance(consumed);
            self.scanned = 0;
            match result {
                Ok(None) => continue,
                other => return other,
            }
        }
    }

    /// The stream ended (EOF, or the connection dropped): discard whatever is pending
    /// (rule 8: an event without its closing blank line is not dispatched, and its `id` is
    /// not committed) and get ready for the next stream (the BOM is stripped again).
    ///
    /// Drain [`EventParser::next_item`] first: input fed but not yet processed is discarded.
    /// The last event id and the reconnection time persist. The next stream's last event id
    /// buffer starts at the current last event id, as Chromium, Firefox and npm `eventsource`
    /// do (the standard's text starts it at `""`, which would make a resumed stream whose
    /// events carry no `id` forget the cursor it resumed from).
    pub fn finish(&mut self) {
        self.buf.clear();
        self.scanned = 0;
        self.bom_pending = true;
        self.skip_lf = false;
        self.dropping_line = false;
        let f = &mut self.fields;
        f.data.clear();
        f.event_type.clear();
        f.id_buf.clear();
        f.id_buf.push_str(&f.last_event_id);
        f.skipping_block = false;
    }
}

impl Fields {
    /// Drops the block being built after a limit error: it leaves no trace.
    fn abort_block(&mut self) {
        self.data.clear();
        self.event_type.clear();
        self.id_buf.clear();
        self.id_buf.push_str(&self.last_event_id);
        self.skipping_block = true;
    }

    /// Processes one complete line (without its line end), rules 10-19.
    fn process_line(&mut self, line: &[u8]) -> Result<Option<Item>, Error> {
        if line.is_empty() {
            if self.skipping_block {
                self.skipping_block = false;
                return Ok(None);
            }
            return Ok(self.dispatch());
        }
        if self.skipping_block {
            return Ok(None);
        }
        // Rules 12, 13: field is everything before the first colon, value everything after
        // it minus one leading U+0020; no colon means the whole line is the field name.
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = line.get(i + 1..).unwrap_or_default();
                let value = value.strip_prefix(b" ").unwrap_or(value);
                (line.get(..i).unwrap_or_default(), value)
            }
            None => (line, &b""[..]),
        };
        // Rule 14: names compare literally. Comparing raw bytes equals comparing decoded
        // text here, because the names we know are ASCII.
        match name {
            // Rule 11: a comment (empty field name).
            b"" => {
                let mut text = String::new();
                push_lossy(&mut text, value);
                return Ok(Some(Item::Comment(text)));
            }
            b"data" => {
                // Rule 16.
                self.data.reserve(value.len() + 1);
                push_lossy(&mut self.data, value);
                self.data.push('\n');
                if self.data.len() > self.cfg.max_event_data {
                    self.abort_block();
                    return Err(CapacityError::EventDataTooLarge.into());
                }
            }
            b"event" => {
                // Rule 15.
                self.event_type.clear();
                push_lossy(&mut self.event_type, value);
                if self.event_type.len() > self.cfg.max_event_type_len {
                    self.abort_block();
                    return Err(CapacityError::EventTypeTooLong.into());
                }
            }
            // Rule 17: an id containing NUL is ignored; otherwise set, even to "".
            b"id" if !value.contains(&0) => {
                self.id_buf.clear();
                push_lossy(&mut self.id_buf, value);
                if self.id_buf.len() > self.cfg.max_id_len {
                    self.abort_block();
                    return Err(CapacityError::IdTooLong.into());
                }
            }
            // Rule 18: one or more ASCII digits, base 10 (leading zeros fine).
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let ms = value.iter().fold(0u64, |acc, &d| {
                    acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                let t = Duration::from_millis(ms);
                self.reconnection_time = Some(t);
                return Ok(Some(Item::Retry(t)));
            }
            // Rule 19: anything else (and a NUL id, a bogus retry) is ignored.
            _ => {}
        }
        Ok(None)
    }

    /// Rules 20-25: a blank line.
    fn dispatch(&mut self) -> Option<Item> {
        // Rules 20, 21: commit the id buffer, which is not reset.
        let changed = *self.last_event_id != *self.id_buf;
        if changed {
            self.last_event_id = Arc::from(self.id_buf.as_str());
        }
        // Rule 22: no data, no event.
        if self.data.is_empty() {
            self.event_type.clear();
            return changed.then(|| Item::LastEventId(self.last_event_id.clone()));
        }
        // Rule 23: exactly one trailing LF goes (every data line ended with one).
        self.data.pop();
        // Rule 24: type "message" unless the buffer is non-empty.
        let event_type = if self.event_type.is_empty() {
            self.message.clone()
        } else {
            if *self.last_type != *self.event_type {
                self.last_type = Arc::from(self.event_type.as_str());
            }
            self.last_type.clone()
        };
        // Rule 25: reset data and type.
        self.event_type.clear();
        let data = std::mem::take(&mut self.data);
        Some(Item::Event(MessageEvent {
            event_type,
            data,
            last_event_id: self.last_event_id.clone(),
        }))
    }
}

/// Appends `bytes` decoded as the WHATWG UTF-8 decoder would (rule 1): each maximal invalid
/// subpart becomes one U+FFFD, which is exactly what [`str::Utf8Chunks`] reports.
fn push_lossy(dst: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => dst.push_str(s),
        Err(_) => {
            for chunk in bytes.utf8_chunks() {
                dst.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    dst.push(char::REPLACEMENT_CHARACTER);
                }
            }
        }
    }
}

/// The index of the first CR or LF.
///
/// Scans 16-byte blocks with a branch-free OR of comparisons, which the compiler turns into
/// SIMD compares; a plain `position` stops at each byte and was slower on long lines.
fn find_line_end(hay: &[u8]) -> Option<usize> {
    let mut blocks = hay.chunks_exact(16);
    let mut base = 0;
    for block in &mut blocks {
        let hit = block
            .iter()
            .fold(false, |acc, &b| acc | (b == b'\n') | (b == b'\r'));
        if hit {
            return block
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map(|i| base + i);
        }
        base += 16;
    }
    blocks
        .remainder()
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| base + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_line_end_every_position() {
        for len in 0..70 {
            for pos in 0..len {
                for eol in [b'\r', b'\n'] {
                    let mut v = vec![b'x'; len];
                    v[pos] = eol;
                    assert_eq!(find_line_end(&v), Some(pos));
                }
            }
            assert_eq!(find_line_end(&vec![b'x'; len]), None);
        }
    }

    #[test]
    fn rule_1_lossy_matches_whatwg_maximal_subparts() {
        // Expected strings follow the WHATWG Encoding standard's UTF-8 decoder.
        let cases: &[(&[u8], &str)] = &[
            (b"\xE2\x82\x41", "\u{FFFD}A"),
            (b"\xF0\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}"),
            (b"\xED\xA0\x80", "\u{FFFD}\u{FFFD}\u{FFFD}"),
            (b"\xF0\x9F\x98", "\u{FFFD}"),
            (b"\xC0\xAF", "\u{FFFD}\u{FFFD}"),
            (b"\xF4\x90\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
            (b"\xFF", "\u{FFFD}"),
            (b"a\xF0\x9F\x98\x80b", "a\u{1F600}b"),
        ];
        for (bytes, want) in cases {
            let mut s = String::new();
            push_lossy(&mut s, bytes);
            assert_eq!(&s, want, "{bytes:x?}");
        }
    }
}
