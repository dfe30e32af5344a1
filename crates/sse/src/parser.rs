//! The client side: WHATWG "interpret an event stream", incremental and sans-IO.
//!
//! [`EventParser`] is fed the body of an event-stream response in chunks of any size
//! ([`EventParser::feed`]) and hands out what the stream means, in order
//! ([`EventParser::next_item`]): events, `retry` changes, comments, and last-event-id
//! changes of blocks that fire no event. Nothing the stream says is lost, and the result is
//! the same however the body was chunked (rule 7).
//!
//! # How it stays exact and linear
//! Each fed chunk is UTF-8 decoded once, as it arrives, into one text buffer (rule 1: the
//! WHATWG decoder, U+FFFD per maximal invalid subpart); the up to 3 bytes of a character
//! split across chunks wait for the next chunk, so the text is the same as decoding the
//! whole stream at once, whatever the chunking. The text buffer always starts at a line
//! start. Line ends are searched only in bytes not searched before (`scanned`), so one 1 MiB
//! line fed in 64 B chunks costs the same as fed whole. A complete line is split into field
//! and value at ASCII bytes (CR, LF, `:`, space), which are always character boundaries, so
//! values are copied as text without being validated again; a block's first `data` value is
//! not copied at all until a second one comes or the buffer is compacted.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::error::{CapacityError, Error};

/// The byte order mark (EF BB BF decoded), stripped once at the start of each stream
/// (rule 2).
const BOM: char = '\u{FEFF}';

/// Processed text kept in the buffer at most (bytes) before it is dropped in one move.
const COMPACT_AT: usize = 4096;

/// One dispatched event, as a browser's `MessageEvent` would carry it (rule 24), minus the
/// origin, which the client adds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageEvent {
    /// The event type: the `event` field's value, `"message"` when absent or empty.
    ///
    /// Shared: consecutive events of one type share one allocation.
    pub event_type: Arc<str>,
    /// The data: the `data` lines joined by LF, without the final LF (rule 23).
    pub data: String,
    /// The stream's last event id when the event was dispatched: the latest `id` seen, even
    /// in an earlier event (rule 20), `""` if none. Shared while it does not change.
    pub last_event_id: Arc<str>,
}

impl MessageEvent {
    /// An event with these fields (to build expected values, e.g. in tests). Prefer it to
    /// a struct literal: the struct may gain fields (an origin, say).
    ///
    /// ```
    /// use pushwire_sse::MessageEvent;
    /// let ev = MessageEvent::new("message", "hi", "7");
    /// assert_eq!((&*ev.event_type, ev.data.as_str(), &*ev.last_event_id), ("message", "hi", "7"));
    /// ```
    pub fn new(
        event_type: impl Into<Arc<str>>,
        data: impl Into<String>,
        last_event_id: impl Into<Arc<str>>,
    ) -> Self {
        MessageEvent {
            event_type: event_type.into(),
            data: data.into(),
            last_event_id: last_event_id.into(),
        }
    }
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

/// [`Item`] borrowed from the parser's buffers: no allocation per event. Valid until the
/// next call on the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemRef<'a> {
    /// An event: type (`"message"` by default), data, last event id.
    Event {
        /// The event type.
        event_type: &'a str,
        /// The data.
        data: &'a str,
        /// The last event id.
        last_event_id: &'a str,
    },
    /// See [`Item::Retry`].
    Retry(Duration),
    /// See [`Item::Comment`].
    Comment(&'a str),
    /// See [`Item::LastEventId`].
    LastEventId(&'a str),
}

/// What processing produced; the text lives in [`Fields`]. Two bytes, so it comes back in
/// a register: returning the 40-byte `Result<Option<_>, Error>` from the per-line functions
/// cost a store-forwarding stall per item in the small-events profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// More input is needed.
    Need,
    /// The line produced nothing to report (internal to line processing).
    Nothing,
    Event,
    /// The reconnection time (in `Fields::reconnection_time`) was set.
    Retry,
    Comment,
    LastEventId,
    Limit(CapacityError),
}

/// The incremental event-stream parser (WHATWG HTML §9.2.6, SSE-RULES 1-25).
///
/// Two ways to pull: [`EventParser::next_item`] hands out owned [`Item`]s (one allocation
/// per event, for the data), [`EventParser::next_item_ref`] borrows them from the parser's
/// buffers (no allocation per event).
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
    /// Fed bytes, decoded; `text[pos..]` is not processed yet and starts at a line start.
    text: String,
    pos: usize,
    /// `text[pos..pos + scanned]` is known to hold no CR or LF.
    scanned: usize,
    /// The start of a UTF-8 sequence cut by the end of the last chunk (`partial_len` bytes,
    /// at most 3): decoded once the next chunk completes or breaks it.
    partial: [u8; 4],
    partial_len: usize,
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
    /// The data buffer, unless `data_span` is set.
    data: String,
    /// A block's first `data` line leaves its value where it is: the data buffer is then
    /// `text[start..end]` plus an LF. Copied into `data` when a second `data` line comes or
    /// before the text is compacted, so a one-line event is never copied.
    data_span: Option<(usize, usize)>,
    /// The text of the last `event` line: kept across events, so a repeated type is
    /// neither decoded nor copied again.
    event_type: String,
    /// The event type buffer is `event_type` (else it is empty).
    type_set: bool,
    /// The value of the latest `id` line of this block (after a dispatch: the previous
    /// last event id, kept for its capacity).
    id_next: String,
    /// The last event ID *buffer* is `id_next` (else it equals `last_event_id`, which is
    /// what the buffer holds after every dispatch: rule 20 does not reset it).
    id_pending: bool,
    /// The source's last event ID *string* (committed at each blank line).
    last_event_id: String,
    /// `last_event_id` as shared text, made on demand and kept while it does not change.
    last_event_id_arc: Option<Arc<str>>,
    /// The type of the last owned event handed out, reused while it repeats.
    last_type: Arc<str>,
    message: Arc<str>,
    /// The last comment's text.
    comment: String,
    reconnection_time: Option<Duration>,
    /// After a limit error: ignore lines up to the next blank line.
    skipping_block: bool,
    /// An event was just dispatched from `data` / `event_type`: clear them first thing.
    dispatched: bool,
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
            text: String::new(),
            pos: 0,
            scanned: 0,
            partial: [0; 4],
            partial_len: 0,
            bom_pending: true,
            skip_lf: false,
            dropping_line: false,
            fields: Fields {
                cfg,
                data: String::new(),
                data_span: None,
                event_type: String::new(),
                type_set: false,
                id_next: String::new(),
                id_pending: false,
                last_event_id: String::new(),
                last_event_id_arc: None,
                last_type: message.clone(),
                message,
                comment: String::new(),
                reconnection_time: None,
                skipping_block: false,
                dispatched: false,
            },
        }
    }

    /// Starts from a last event id other than `""` (a client resuming a stream it read
    /// before). `id` should be free of NUL, CR and LF (rule 45).
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        self.fields.id_pending = false;
        self.fields.last_event_id = id.to_owned();
        self.fields.last_event_id_arc = None;
        self
    }

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.fields.cfg
    }

    /// The source's last event id string (rule 20): what a reconnect sends as
    /// `Last-Event-ID` when non-empty (rule 39).
    pub fn last_event_id(&self) -> &str {
        &self.fields.last_event_id
    }

    /// The reconnection time the stream asked for with `retry`, if it did (rule 40).
    pub fn reconnection_time(&self) -> Option<Duration> {
        self.fields.reconnection_time
    }

    /// Appends a chunk of the response body. Nothing is parsed until
    /// [`EventParser::next_item`]; feed what one read returned, then drain.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.compact();
        self.decode(chunk);
    }

    /// Drops the processed text: at once when all of it is processed (free), otherwise only
    /// once [`COMPACT_AT`] bytes are processed, so that small chunks do not move the partial
    /// line each time (the buffer holds at most that much more). `pos` is at a line start (after CR, LF or the BOM), so at a character boundary:
    /// `drain` cannot panic.
    fn compact(&mut self) {
        if self.pos == 0 || (self.pos < self.text.len() && self.pos < COMPACT_AT) {
            return;
        }
        // Nothing may point into the processed text any more.
        self.fields.reset_dispatched();
        self.fields.spill_data(&self.text);
        if self.pos >= self.text.len() {
            self.text.clear();
        } else if self.pos >= COMPACT_AT {
            self.text.drain(..self.pos);
        } else {
            return;
        }
        self.pos = 0;
    }

    /// Appends `chunk` to the text, decoded as the WHATWG UTF-8 decoder would (rule 1): each
    /// maximal invalid subpart becomes one U+FFFD, which is what [`std::str::Utf8Error`]
    /// reports as `error_len`. A sequence cut by the end of the chunk waits in `partial`.
    fn decode(&mut self, mut chunk: &[u8]) {
        while self.partial_len > 0 {
            let Some((&b, rest)) = chunk.split_first() else {
                return;
            };
            let n = self.partial_len;
            let Some(slot) = self.partial.get_mut(n) else {
                // Unreachable: a sequence is complete or invalid by its 4th byte.
                self.partial_len = 0;
                break;
            };
            *slot = b;
            match std::str::from_utf8(self.partial.get(..=n).unwrap_or_default()) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.partial_len = 0;
                    chunk = rest;
                }
                Err(e) if e.error_len().is_none() => {
                    self.partial_len = n + 1;
                    chunk = rest;
                }
                Err(_) => {
                    // The cut sequence was a prefix of a valid one, so `b` is what broke it:
                    // the prefix is one maximal subpart and `b` starts afresh.
                    self.text.push(char::REPLACEMENT_CHARACTER);
                    self.partial_len = 0;
                }
            }
        }
        loop {
            match std::str::from_utf8(chunk) {
                Ok(s) => {
                    self.text.push_str(s);
                    return;
                }
                Err(e) => {
                    let (valid, rest) = chunk.split_at(e.valid_up_to());
                    if let Ok(s) = std::str::from_utf8(valid) {
                        self.text.push_str(s);
                    }
                    match e.error_len() {
                        Some(n) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            chunk = rest.get(n..).unwrap_or_default();
                        }
                        None => {
                            // At most 3 bytes: the start of a sequence the next chunk may
                            // complete.
                            let n = rest.len().min(3);
                            if let (Some(dst), Some(src)) =
                                (self.partial.get_mut(..n), rest.get(..n))
                            {
                                dst.copy_from_slice(src);
                            }
                            self.partial_len = n;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Bytes fed but not processed yet (at most one partial line once drained), counted as
    /// decoded text plus the bytes of a cut character.
    pub fn buffered(&self) -> usize {
        self.text.len() - self.pos + self.partial_len
    }

    /// The next thing the stream said, `Ok(None)` when more input is needed.
    ///
    /// A [`CapacityError`] is reported once, when a limit is exceeded; the block it happened
    /// in is dropped (no event, no id change) and parsing resumes after the next blank line,
    /// so calling `next_item` again simply goes on.
    pub fn next_item(&mut self) -> Result<Option<Item>, Error> {
        let kind = self.step();
        let f = &mut self.fields;
        Ok(Some(match kind {
            Kind::Need | Kind::Nothing => return Ok(None),
            Kind::Limit(e) => return Err(e.into()),
            Kind::Event => {
                let event_type = if !f.type_set || f.event_type.is_empty() {
                    f.message.clone()
                } else {
                    if *f.last_type != *f.event_type {
                        f.last_type = Arc::from(f.event_type.as_str());
                    }
                    f.last_type.clone()
                };
                let data = match f.data_span {
                    Some((a, b)) => self.text.get(a..b).unwrap_or_default().to_owned(),
                    // Hand the buffer over rather than copy it.
                    None => std::mem::take(&mut f.data),
                };
                Item::Event(MessageEvent {
                    event_type,
                    data,
                    last_event_id: f.last_event_id_arc(),
                })
            }
            Kind::Retry => Item::Retry(f.reconnection_time.unwrap_or_default()),
            Kind::Comment => Item::Comment(std::mem::take(&mut f.comment)),
            Kind::LastEventId => Item::LastEventId(f.last_event_id_arc()),
        }))
    }

    /// Like [`EventParser::next_item`], borrowing the text from the parser's buffers
    /// instead of allocating it.
    ///
    /// ```
    /// use pushwire_sse::{EventParser, ItemRef};
    /// let mut p = EventParser::new();
    /// p.feed(b"id: 7\ndata: hi\n\n");
    /// let item = p.next_item_ref()?;
    /// assert_eq!(item, Some(ItemRef::Event { event_type: "message", data: "hi", last_event_id: "7" }));
    /// # Ok::<(), pushwire_sse::Error>(())
    /// ```
    pub fn next_item_ref(&mut self) -> Result<Option<ItemRef<'_>>, Error> {
        let kind = self.step();
        let f = &self.fields;
        Ok(Some(match kind {
            Kind::Need | Kind::Nothing => return Ok(None),
            Kind::Limit(e) => return Err(e.into()),
            Kind::Event => ItemRef::Event {
                event_type: if !f.type_set || f.event_type.is_empty() {
                    "message"
                } else {
                    &f.event_type
                },
                data: match f.data_span {
                    Some((a, b)) => self.text.get(a..b).unwrap_or_default(),
                    None => &f.data,
                },
                last_event_id: &f.last_event_id,
            },
            Kind::Retry => ItemRef::Retry(f.reconnection_time.unwrap_or_default()),
            Kind::Comment => ItemRef::Comment(&f.comment),
            Kind::LastEventId => ItemRef::LastEventId(&f.last_event_id),
        }))
    }

    /// Processes lines until one produces something.
    ///
    /// Lines are processed in place from `text[pos..]`; consumed text is released in one
    /// go at the next `feed` (per line it showed up in profiles).
    fn step(&mut self) -> Kind {
        self.fields.reset_dispatched();
        self.step_inner()
    }

    fn step_inner(&mut self) -> Kind {
        loop {
            let input = self.text.get(self.pos..).unwrap_or_default();
            if self.bom_pending {
                // Rules 2 and 3: exactly one BOM, only at the very start. A BOM split
                // across chunks is decoded once its third byte arrives.
                if input.is_empty() {
                    return Kind::Need;
                }
                self.bom_pending = false;
                if input.starts_with(BOM) {
                    self.pos += BOM.len_utf8();
                    continue;
                }
            }
            if self.skip_lf {
                // Rule 5: CR at the end of one chunk, LF at the start of the next.
                match input.as_bytes().first() {
                    None => return Kind::Need,
                    Some(b'\n') => {
                        self.pos += 1;
                        self.skip_lf = false;
                        continue;
                    }
                    Some(_) => self.skip_lf = false,
                }
            }
            let bytes = input.as_bytes();
            let found = match bytes.first() {
                // A blank line (one per event): no scan. `scanned` bytes hold no line end,
                // so a first byte LF means `scanned` is 0.
                Some(b'\n') => Some(0),
                _ => bytes
                    .get(self.scanned..)
                    .and_then(find_line_end)
                    .map(|i| i + self.scanned),
            };
            let Some(end) = found else {
                self.scanned = input.len();
                if self.dropping_line {
                    self.pos = self.text.len();
                    self.scanned = 0;
                } else if self.scanned > self.fields.cfg.max_line {
                    // An over-long partial line: drop what is buffered and the rest as it
                    // comes, so memory stays at the limit whatever the chunking.
                    self.pos = self.text.len();
                    self.scanned = 0;
                    self.dropping_line = true;
                    self.fields.abort_block();
                    return Kind::Limit(CapacityError::LineTooLong);
                }
                return Kind::Need;
            };
            // Rule 4: CRLF, LF or a lone CR ends the line.
            let mut consumed = end + 1;
            if bytes.get(end) == Some(&b'\r') {
                match bytes.get(end + 1) {
                    Some(b'\n') => consumed += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            let result = if self.dropping_line {
                self.dropping_line = false;
                Kind::Nothing
            } else if end > self.fields.cfg.max_line {
                self.fields.abort_block();
                Kind::Limit(CapacityError::LineTooLong)
            } else {
                let line = input.get(..end).unwrap_or_default();
                self.fields.process_line(line, self.pos, &self.text)
            };
            self.pos += consumed;
            self.scanned = 0;
            if result != Kind::Nothing {
                return result;
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
        self.text.clear();
        self.pos = 0;
        self.scanned = 0;
        self.partial_len = 0;
        self.bom_pending = true;
        self.skip_lf = false;
        self.dropping_line = false;
        let f = &mut self.fields;
        f.data.clear();
        f.data_span = None;
        f.type_set = false;
        f.id_pending = false;
        f.skipping_block = false;
        f.dispatched = false;
    }
}

impl Fields {
    fn last_event_id_arc(&mut self) -> Arc<str> {
        self.last_event_id_arc
            .get_or_insert_with(|| Arc::from(self.last_event_id.as_str()))
            .clone()
    }

    /// Rule 25: resets the data and type buffers after a dispatch (deferred so the borrowed
    /// item could point into them).
    #[inline]
    fn reset_dispatched(&mut self) {
        if self.dispatched {
            self.dispatched = false;
            self.data.clear();
            self.data_span = None;
            self.type_set = false;
        }
    }

    /// Copies a data value left in the text into `data` (with its LF).
    #[cold]
    fn spill_data(&mut self, text: &str) {
        if let Some((a, b)) = self.data_span.take() {
            self.data.push_str(text.get(a..b).unwrap_or_default());
            self.data.push('\n');
        }
    }

    /// Drops the block being built after a limit error: it leaves no trace.
    fn abort_block(&mut self) {
        self.data.clear();
        self.data_span = None;
        self.type_set = false;
        self.id_pending = false;
        self.skipping_block = true;
    }

    /// Processes one complete line (without its line end), rules 10-19. The line is
    /// `text[start..start + line.len()]`.
    fn process_line(&mut self, line: &str, start: usize, text: &str) -> Kind {
        if line.is_empty() {
            if self.skipping_block {
                self.skipping_block = false;
                return Kind::Nothing;
            }
            return self.dispatch();
        }
        if self.skipping_block {
            return Kind::Nothing;
        }
        let (field, value) = split_field(line);
        // Rule 12: one leading U+0020 (only a space) goes.
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            // Rule 11: a comment (empty field name).
            Field::Comment => {
                self.comment.clear();
                self.comment.push_str(value);
                return Kind::Comment;
            }
            Field::Data => {
                // Rule 16. The value is a suffix of the line.
                if self.data_span.is_none() && self.data.is_empty() {
                    if value.len() >= self.cfg.max_event_data {
                        self.abort_block();
                        return Kind::Limit(CapacityError::EventDataTooLarge);
                    }
                    let end = start + line.len();
                    self.data_span = Some((end - value.len(), end));
                    return Kind::Nothing;
                }
                self.spill_data(text);
                self.data.reserve(value.len() + 1);
                self.data.push_str(value);
                self.data.push('\n');
                if self.data.len() > self.cfg.max_event_data {
                    self.abort_block();
                    return Kind::Limit(CapacityError::EventDataTooLarge);
                }
            }
            Field::Event => {
                // Rule 15. A repeated type is not copied again.
                if value != self.event_type {
                    self.event_type.clear();
                    self.event_type.push_str(value);
                    if self.event_type.len() > self.cfg.max_event_type_len {
                        self.event_type.clear();
                        self.abort_block();
                        return Kind::Limit(CapacityError::EventTypeTooLong);
                    }
                }
                self.type_set = true;
            }
            // Rule 17: an id containing NUL is ignored; otherwise set, even to "".
            Field::Id if !has_nul(value.as_bytes()) => {
                self.id_next.clear();
                self.id_next.push_str(value);
                if self.id_next.len() > self.cfg.max_id_len {
                    self.abort_block();
                    return Kind::Limit(CapacityError::IdTooLong);
                }
                self.id_pending = true;
            }
            // Rule 18: one or more ASCII digits, base 10 (leading zeros fine).
            Field::Retry if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                let ms = value.bytes().fold(0u64, |acc, d| {
                    acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                let t = Duration::from_millis(ms);
                self.reconnection_time = Some(t);
                return Kind::Retry;
            }
            // Rule 19: anything else (and a NUL id, a bogus retry) is ignored.
            _ => {}
        }
        Kind::Nothing
    }

    /// Rules 20-25: a blank line.
    fn dispatch(&mut self) -> Kind {
        // Rules 20, 21: commit the id buffer, which is not reset.
        // Rule 22: no data, no event.
        if self.data_span.is_none() && self.data.is_empty() {
            // Only here does a change need detecting: it is the item we report.
            let changed = self.id_pending && self.id_next != self.last_event_id;
            if changed {
                std::mem::swap(&mut self.id_next, &mut self.last_event_id);
                self.last_event_id_arc = None;
            }
            self.id_pending = false;
            self.type_set = false;
            return if changed {
                Kind::LastEventId
            } else {
                Kind::Nothing
            };
        }
        if self.id_pending {
            // The event carries the new id; no comparison needed.
            std::mem::swap(&mut self.id_next, &mut self.last_event_id);
            self.last_event_id_arc = None;
            self.id_pending = false;
        }
        // Rule 23: exactly one trailing LF goes (every data line ended with one; a value
        // left in the text has its LF implied).
        if self.data_span.is_none() {
            self.data.truncate(self.data.len().saturating_sub(1));
        }
        // Rules 24, 25: the caller reads type and data, the next step resets them.
        self.dispatched = true;
        Kind::Event
    }
}

/// Does `id` hold a NUL (rule 17)? Ids are short: a plain loop beats a `memchr` call.
#[inline]
fn has_nul(id: &[u8]) -> bool {
    id.iter().fold(false, |acc, &b| acc | (b == 0))
}

/// The fields the standard knows (rule 14: compared literally, case-sensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Comment,
    Data,
    Event,
    Id,
    Retry,
    Other,
}

/// Rules 12 and 13: the field is everything before the first colon and the value everything
/// after it; a line without a colon is a field name with an empty value. The common lines are
/// recognised by their first bytes, without searching for the colon. Every cut is next to an
/// ASCII `:`, so at a character boundary.
#[inline]
fn split_field(line: &str) -> (Field, &str) {
    let tail = |n: usize| line.get(n..).unwrap_or_default();
    let bytes = line.as_bytes();
    match bytes.first() {
        Some(b':') => return (Field::Comment, tail(1)),
        Some(b'd') if bytes.starts_with(b"data:") => return (Field::Data, tail(5)),
        Some(b'i') if bytes.starts_with(b"id:") => return (Field::Id, tail(3)),
        Some(b'e') if bytes.starts_with(b"event:") => return (Field::Event, tail(6)),
        _ => {}
    }
    let (name, value) = match find_colon(bytes) {
        Some(i) => (bytes.get(..i).unwrap_or_default(), tail(i + 1)),
        None => (bytes, ""),
    };
    let field = match name {
        b"data" => Field::Data,
        b"event" => Field::Event,
        b"id" => Field::Id,
        b"retry" => Field::Retry,
        _ => Field::Other,
    };
    (field, value)
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `word` equal to `b`: exact for the lowest such byte, which
/// is all the callers use (bytes above a match may be flagged falsely by the borrow).
#[inline(always)]
fn bytes_equal(word: u64, b: u8) -> u64 {
    let x = word ^ (LO * u64::from(b));
    x.wrapping_sub(LO) & !x & HI
}

/// High bit set in the lowest byte of `word` that is CR or LF (bits above may be false).
#[inline(always)]
fn eol_bits(word: u64) -> u64 {
    bytes_equal(word, b'\n') | bytes_equal(word, b'\r')
}

/// The index of the first CR or LF in a 16-byte block, by SWAR on its two words.
#[inline(always)]
fn eol_in_block(block: &[u8]) -> Option<usize> {
    let (a, b) = block.split_at(8);
    let m = eol_bits(u64::from_le_bytes(a.try_into().unwrap_or([0; 8])));
    if m != 0 {
        return Some((m.trailing_zeros() / 8) as usize);
    }
    let m = eol_bits(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    (m != 0).then(|| 8 + (m.trailing_zeros() / 8) as usize)
}

/// The index of the first CR or LF.
///
/// The first 16 bytes by SWAR on two words (event-stream lines are mostly short), then
/// 16-byte blocks whose branch-free test the compiler turns into SIMD compares; the one block
/// with a hit is searched by SWAR again (a byte loop there cost a third of a data line's scan
/// in the small-events profile). A long line fed in 64-byte chunks spends its time in the
/// blocks.
#[inline]
fn find_line_end(hay: &[u8]) -> Option<usize> {
    let mut blocks = hay.chunks_exact(16);
    let mut base = 0;
    if let Some(block) = blocks.next() {
        if let Some(i) = eol_in_block(block) {
            return Some(i);
        }
        base = 16;
        for block in &mut blocks {
            let hit = block
                .iter()
                .fold(false, |acc, &b| acc | (b == b'\n') | (b == b'\r'));
            if hit {
                return eol_in_block(block).map(|i| base + i);
            }
            base += 16;
        }
    }
    let rest = blocks.remainder();
    let mut words = rest.chunks_exact(8);
    for w in &mut words {
        let m = eol_bits(u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
        if m != 0 {
            return Some(base + (m.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| base + i)
}

/// The index of the first `:` (same technique as [`find_line_end`]).
#[inline]
fn find_colon(hay: &[u8]) -> Option<usize> {
    let mut words = hay.chunks_exact(8);
    let mut base = 0;
    for w in &mut words {
        let word = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        let m = bytes_equal(word, b':');
        if m != 0 {
            return Some(base + (m.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b':')
        .map(|i| base + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_line_end_and_colon_every_position() {
        for len in 0..70 {
            for pos in 0..len {
                for eol in [b'\r', b'\n'] {
                    // Bytes around the target that differ from it by one bit, and a second
                    // match after it, probe the SWAR borrow corner cases.
                    let mut v: Vec<u8> = (0..len)
                        .map(|i| [b'\x0c', b'\x0b', 0x8d, 0x8a, b';', b'x'][i % 6])
                        .collect();
                    v[pos] = eol;
                    if pos + 1 < len {
                        v[pos + 1] = b'\n';
                    }
                    assert_eq!(find_line_end(&v), Some(pos), "{v:?}");
                    v[pos] = b':';
                    assert_eq!(find_colon(&v), Some(pos), "{v:?}");
                }
            }
            assert_eq!(find_line_end(&vec![b'x'; len]), None);
            assert_eq!(find_colon(&vec![0xba; len]), None);
        }
    }

    #[test]
    fn rule_1_lossy_matches_whatwg_maximal_subparts() {
        // Expected strings follow the WHATWG Encoding standard's UTF-8 decoder.
        let cases: &[(&[u8], &str)] = &[
            (b"\xE2\x82\x41", "\u{FFFD}A"),
            (b"\xF0\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}"),
            (b"\xED\xA0\x80", "\u{FFFD}\u{FFFD}\u{FFFD}"),
            (b"\xF0\x9F\x98|", "\u{FFFD}|"),
            (b"\xC0\xAF", "\u{FFFD}\u{FFFD}"),
            (b"\xF4\x90\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
            (b"\xFF", "\u{FFFD}"),
            (b"a\xF0\x9F\x98\x80b", "a\u{1F600}b"),
            (b"\xF0\x9F\x98\xF0\x9F\x98\x80", "\u{FFFD}\u{1F600}"),
            (b"\xE0\x80", "\u{FFFD}\u{FFFD}"),
            // A sequence cut by the end of the input waits for more.
            (b"\xE2\x82", ""),
            (b"\xE2\x82\xAC\xE2", "\u{20AC}"),
            (b"a\xF0\x9F\x98", "a"),
        ];
        for (bytes, want) in cases {
            // Whole, byte by byte, and split at every point (the cut sequence waits).
            let mut splits: Vec<Vec<&[u8]>> = vec![vec![bytes], bytes.chunks(1).collect()];
            for i in 0..=bytes.len() {
                let (x, y) = bytes.split_at(i);
                splits.push(vec![x, y]);
            }
            for chunks in splits {
                let mut p = EventParser::new();
                for c in &chunks {
                    p.decode(c);
                }
                assert_eq!(&p.text, want, "{chunks:x?}");
            }
        }
    }
}
