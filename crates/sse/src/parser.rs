//! The client side: WHATWG "interpret an event stream", incremental and sans-IO.
//!
//! [`EventParser`] is fed the body of an event-stream response in chunks of any size
//! ([`EventParser::feed`]) and hands out what the stream means, in order
//! ([`EventParser::next_item`]): events, `retry` changes, comments, and last-event-id
//! changes of blocks that fire no event. Nothing the stream says is lost, and the result is
//! the same however the body was chunked (rule 7). [`EventParser::next_item_from`] does both
//! at once on a chunk the caller still holds, without copying it first.
//!
//! # How it stays exact and linear
//! Lines are split on the raw bytes: CR and LF are ASCII, and an ASCII byte is never part of
//! a UTF-8 sequence, valid or not, so cutting the body at line ends (and a line at its `:`
//! and its leading space, and the data buffer at the LFs that join its values) before
//! decoding gives the same text as decoding the whole body at once (rule 1: the WHATWG
//! decoder, one U+FFFD per maximal invalid subpart, which is what std's lossy conversion
//! does). Field names are ASCII and compared as bytes. A line lying wholly inside the input
//! is processed where it lies; only the start of a line cut by the end of the input is
//! copied, into the line buffer, which the rest of the line then joins. `data` values are
//! appended raw to the event's data buffer, which is validated once, at dispatch, and
//! becomes the event's `String` without a copy (an invalid one, rarely, is decoded lossily);
//! `event`, `id` and comment values are decoded as they are copied. A chunk without a line
//! end costs one search and one append. Line ends are searched only in bytes not searched
//! before, so one 1 MiB line fed in 64 B chunks costs the same as fed whole. The limits
//! count decoded text as before: text is at least as long as its bytes and at most three
//! times as long, so only a line or an event near its limit is decoded to be measured.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::error::{CapacityError, Error};

/// The byte order mark, stripped once at the start of each stream (rule 2). A stream's
/// decoded text starts with U+FEFF exactly when its bytes start with these.
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// Bytes fed with [`EventParser::feed`] and processed, kept at most before they are
/// dropped in one move (a partly processed buffer is not moved for every small chunk).
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
/// Three ways to pull: [`EventParser::next_item`] hands out owned [`Item`]s (one allocation
/// per event, for the data), [`EventParser::next_item_ref`] borrows them from the parser's
/// buffers (no allocation per event), and [`EventParser::next_item_from`] parses a chunk
/// the caller holds without copying it into the parser first.
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
    /// Bytes given to [`EventParser::feed`]; `fed[fed_pos..]` is not processed yet.
    fed: Vec<u8>,
    fed_pos: usize,
    lines: Lines,
    fields: Fields,
}

/// Line splitting: the state carried from one input to the next.
#[derive(Debug)]
struct Lines {
    /// The start of a line cut by the end of an input (raw bytes, no line end). While
    /// `bom_pending`, the BOM bytes seen so far.
    line: Vec<u8>,
    /// `line[..checked]` is known to decode to `decoded` bytes of text (only kept up to date
    /// for lines long enough to approach `max_line`).
    checked: usize,
    decoded: usize,
    /// A partial line of up to this many bytes cannot break `max_line` (its text is at most
    /// three times as long): no decoding needed to know.
    short_line: usize,
    max_line: usize,
    /// At the start of a stream, still deciding whether it begins with a BOM.
    bom_pending: bool,
    /// The last line ended with a CR at the end of the input: an LF next belongs to it
    /// (rule 5).
    skip_lf: bool,
    /// Inside a line that broke `max_line`: its bytes are dropped as they arrive.
    dropping_line: bool,
}

/// The per-stream buffers (rule 9) and everything line processing touches, apart from the
/// input so both can be borrowed at once.
#[derive(Debug)]
struct Fields {
    cfg: Config,
    /// The data buffer, raw, without its final LF: the values joined by LF (a single empty
    /// `data` line leaves it empty, yet the buffer holds "\n": hence `has_data`). Decoded
    /// once, at dispatch.
    data: Vec<u8>,
    has_data: bool,
    /// `data[..data_checked]` decodes to `data_decoded` bytes of text (kept only for events
    /// near `max_event_data`).
    data_checked: usize,
    data_decoded: usize,
    /// The dispatched event's data, decoded (taken by an owned item).
    text: String,
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
            fed: Vec::new(),
            fed_pos: 0,
            lines: Lines {
                line: Vec::new(),
                checked: 0,
                decoded: 0,
                short_line: cfg.max_line / 3,
                max_line: cfg.max_line,
                bom_pending: true,
                skip_lf: false,
                dropping_line: false,
            },
            fields: Fields {
                cfg,
                data: Vec::new(),
                has_data: false,
                data_checked: 0,
                data_decoded: 0,
                text: String::new(),
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
        if self.fed_pos >= self.fed.len() {
            self.fed.clear();
            self.fed_pos = 0;
            // Nothing waits: a chunk without a line end joins the partial line at once
            // (what processing it would do), so it is copied once, not twice.
            if self.lines.append_quietly(chunk) {
                return;
            }
        } else if self.fed_pos >= COMPACT_AT {
            self.fed.drain(..self.fed_pos);
            self.fed_pos = 0;
        }
        self.fed.extend_from_slice(chunk);
    }

    /// Bytes fed but not processed yet (at most one partial line once drained, which is at
    /// most [`Config::max_line`] + 3 bytes: a character cut by the end of the input waits
    /// undecoded).
    pub fn buffered(&self) -> usize {
        self.fed.len() - self.fed_pos + self.lines.line.len()
    }

    /// The next thing the stream said, `Ok(None)` when more input is needed.
    ///
    /// A [`CapacityError`] is reported once, when a limit is exceeded; the block it happened
    /// in is dropped (no event, no id change) and parsing resumes after the next blank line,
    /// so calling `next_item` again simply goes on.
    #[inline]
    pub fn next_item(&mut self) -> Result<Option<Item>, Error> {
        if self.fed_pos >= self.fed.len() {
            // Nothing fed waits (the common case of an adapter asking before it reads).
            // A dispatched event's buffers are reset by the next step that processes input.
            return Ok(None);
        }
        let kind = self.step_fed();
        self.item(kind)
    }

    /// Like [`EventParser::feed`] followed by [`EventParser::next_item`], on input the
    /// caller still holds: lines lying wholly inside `input` are processed where they lie,
    /// and only a line cut by its end is copied into the parser. `input` is advanced past
    /// what was processed; `Ok(None)` means all of it was (the parser keeps a partial
    /// line), otherwise call again with the rest.
    ///
    /// Input given to [`EventParser::feed`] and not drained yet comes first.
    ///
    /// ```
    /// use pushwire_sse::{EventParser, Item};
    /// let mut p = EventParser::new();
    /// let mut chunk: &[u8] = b"data: a\n\ndata: b\n\ndata: c";
    /// let mut data = Vec::new();
    /// while let Some(item) = p.next_item_from(&mut chunk)? {
    ///     if let Item::Event(ev) = item {
    ///         data.push(ev.data);
    ///     }
    /// }
    /// assert_eq!((data, chunk.len()), (vec!["a".to_string(), "b".to_string()], 0));
    /// let mut more: &[u8] = b"\n\n";
    /// assert!(matches!(p.next_item_from(&mut more)?, Some(Item::Event(ev)) if ev.data == "c"));
    /// # Ok::<(), pushwire_sse::Error>(())
    /// ```
    #[inline]
    pub fn next_item_from(&mut self, input: &mut &[u8]) -> Result<Option<Item>, Error> {
        if self.absorb(input) {
            // The whole input joined the partial line: the 1- and 7-byte chunk case.
            *input = &[];
            return Ok(None);
        }
        self.next_item_unabsorbed(input)
    }

    /// [`EventParser::next_item_from`] once [`EventParser::absorb`] said no.
    pub(crate) fn next_item_unabsorbed(
        &mut self,
        input: &mut &[u8],
    ) -> Result<Option<Item>, Error> {
        let kind = self.step_from(input);
        self.item(kind)
    }

    /// Takes all of `input` if that is all [`EventParser::next_item_from`] would do with it
    /// (nothing fed waits, no line end in it, no state to settle): the fast path for small
    /// chunks, which skips building and dropping a `Result` (the `Stream` adapter calls it
    /// directly).
    #[inline]
    pub(crate) fn absorb(&mut self, input: &[u8]) -> bool {
        self.fed_pos >= self.fed.len() && self.lines.append_quietly(input)
    }

    /// [`EventParser::absorb`] for a caller that has drained what was fed (so nothing can
    /// wait there): one check fewer per chunk.
    #[cfg(feature = "stream")]
    #[inline]
    pub(crate) fn absorb_drained(&mut self, input: &[u8]) -> bool {
        debug_assert!(self.fed_pos >= self.fed.len());
        self.lines.append_quietly(input)
    }

    /// Like [`EventParser::next_item_from`], borrowing the text from the parser's buffers
    /// (see [`EventParser::next_item_ref`]).
    pub fn next_item_ref_from(&mut self, input: &mut &[u8]) -> Result<Option<ItemRef<'_>>, Error> {
        let kind = self.step_from(input);
        self.item_ref(kind)
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
        let kind = self.step_fed();
        self.item_ref(kind)
    }

    /// The owned item for `kind`.
    fn item(&mut self, kind: Kind) -> Result<Option<Item>, Error> {
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
                Item::Event(MessageEvent {
                    event_type,
                    // Hand the text over rather than copy it.
                    data: std::mem::take(&mut f.text),
                    last_event_id: f.last_event_id_arc(),
                })
            }
            Kind::Retry => Item::Retry(f.reconnection_time.unwrap_or_default()),
            Kind::Comment => Item::Comment(std::mem::take(&mut f.comment)),
            Kind::LastEventId => Item::LastEventId(f.last_event_id_arc()),
        }))
    }

    /// The borrowed item for `kind`.
    fn item_ref(&self, kind: Kind) -> Result<Option<ItemRef<'_>>, Error> {
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
                data: &f.text,
                last_event_id: &f.last_event_id,
            },
            Kind::Retry => ItemRef::Retry(f.reconnection_time.unwrap_or_default()),
            Kind::Comment => ItemRef::Comment(&f.comment),
            Kind::LastEventId => ItemRef::LastEventId(&f.last_event_id),
        }))
    }

    /// Processes what [`EventParser::feed`] left until a line produces something.
    fn step_fed(&mut self) -> Kind {
        self.fields.reset_dispatched();
        if self.fed_pos >= self.fed.len() {
            return Kind::Need;
        }
        // Taken out for the time of the call so that it and the fields can be borrowed at
        // once (moving a `Vec` is three words).
        let fed = std::mem::take(&mut self.fed);
        let mut input = fed.get(self.fed_pos..).unwrap_or_default();
        let kind = self.lines.step(&mut self.fields, &mut input);
        self.fed_pos = fed.len() - input.len();
        self.fed = fed;
        kind
    }

    /// Processes what was fed, then `input`, until a line produces something.
    fn step_from(&mut self, input: &mut &[u8]) -> Kind {
        match self.step_fed() {
            Kind::Need => self.lines.step(&mut self.fields, input),
            kind => kind,
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
        self.fed.clear();
        self.fed_pos = 0;
        let l = &mut self.lines;
        l.clear_line();
        l.bom_pending = true;
        l.skip_lf = false;
        l.dropping_line = false;
        let f = &mut self.fields;
        f.clear_data();
        f.text.clear();
        f.type_set = false;
        f.id_pending = false;
        f.skipping_block = false;
        f.dispatched = false;
    }
}

impl Lines {
    /// Appends `input` to the partial line if that is all processing it would do: no line
    /// end in it, no state to settle first (BOM, a CR's LF, a line being dropped), and too
    /// short to break `max_line`. Returns whether it did.
    #[inline(always)]
    fn append_quietly(&mut self, input: &[u8]) -> bool {
        if self.bom_pending
            | self.skip_lf
            | self.dropping_line
            | (self.line.len() + input.len() > self.short_line)
        {
            return false;
        }
        if let [b] = *input {
            // One byte: a compare and a push beat a search and a `memcpy` call.
            if b == b'\n' || b == b'\r' {
                return false;
            }
            self.line.push(b);
            return true;
        }
        let has_eol = if input.len() < 16 {
            // A short chunk (the 7-byte case): tested inline, without a loop.
            has_line_end_short(input)
        } else {
            find_line_end(input).is_some()
        };
        if has_eol {
            return false;
        }
        self.line.extend_from_slice(input);
        true
    }

    fn clear_line(&mut self) {
        self.line.clear();
        self.checked = 0;
        self.decoded = 0;
    }

    /// Splits `input` into lines and processes them until one produces something; `input`
    /// is advanced past what was processed, and is empty when this returns [`Kind::Need`].
    fn step(&mut self, f: &mut Fields, input: &mut &[u8]) -> Kind {
        loop {
            let bytes = *input;
            if self.bom_pending | self.skip_lf {
                let Some((&b, rest)) = bytes.split_first() else {
                    return Kind::Need;
                };
                if self.skip_lf {
                    // Rule 5: CR at the end of one input, LF at the start of the next.
                    self.skip_lf = false;
                    if b == b'\n' {
                        *input = rest;
                        continue;
                    }
                } else if BOM.get(self.line.len()) == Some(&b) {
                    // Rules 2 and 3: exactly one BOM, only at the very start, possibly cut
                    // into single bytes; its bytes wait in `line` until it is complete.
                    *input = rest;
                    if self.line.len() == 2 {
                        self.line.clear();
                        self.bom_pending = false;
                    } else {
                        self.line.push(b);
                    }
                    continue;
                } else {
                    // No BOM: whatever of one was seen starts the first line.
                    self.bom_pending = false;
                }
            }
            // A blank line (one per event) needs no search.
            let found = match bytes.first() {
                None => return Kind::Need,
                Some(b'\n') => Some(0),
                Some(_) => find_line_end(bytes),
            };
            let Some(end) = found else {
                *input = &[];
                return self.partial(f, bytes);
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
            let (head, rest) = bytes.split_at(consumed.min(bytes.len()));
            *input = rest;
            let content = head.get(..end).unwrap_or_default();
            let kind = if self.dropping_line {
                self.dropping_line = false;
                Kind::Nothing
            } else if self.line.is_empty() {
                f.line(content)
            } else {
                self.line.extend_from_slice(content);
                let kind = f.line(&self.line);
                self.clear_line();
                kind
            };
            if kind != Kind::Nothing {
                return kind;
            }
        }
    }

    /// `bytes` (no line end) continue the partial line: kept, or dropped once the line is
    /// longer than `max_line` (rule: memory stays at the limit whatever the chunking).
    fn partial(&mut self, f: &mut Fields, bytes: &[u8]) -> Kind {
        if self.dropping_line {
            return Kind::Need;
        }
        let len = self.line.len() + bytes.len();
        if len <= self.short_line {
            self.line.extend_from_slice(bytes);
            return Kind::Need;
        }
        // The limit counts decoded text of complete characters (`Config::max_line`), which
        // is at least the raw length minus the 3 bytes of a cut character: past that, no
        // need to copy the bytes to know.
        if len <= self.max_line.saturating_add(3) {
            self.line.extend_from_slice(bytes);
            if self.decoded_len() <= self.max_line {
                return Kind::Need;
            }
        }
        self.clear_line();
        self.dropping_line = true;
        f.abort_block();
        Kind::Limit(CapacityError::LineTooLong)
    }

    /// The length of the partial line's text, without a character its end cuts (decoded
    /// incrementally: each byte is looked at once, plus at most 3 again for a cut
    /// character). An invalid sequence counts as the 3 bytes of U+FFFD.
    #[cold]
    fn decoded_len(&mut self) -> usize {
        loop {
            let rest = self.line.get(self.checked..).unwrap_or_default();
            match std::str::from_utf8(rest) {
                Ok(_) => {
                    self.decoded += rest.len();
                    self.checked += rest.len();
                    return self.decoded;
                }
                Err(e) => {
                    self.decoded += e.valid_up_to();
                    self.checked += e.valid_up_to();
                    match e.error_len() {
                        Some(n) => {
                            self.decoded += char::REPLACEMENT_CHARACTER.len_utf8();
                            self.checked += n;
                        }
                        None => return self.decoded,
                    }
                }
            }
        }
    }
}

impl Fields {
    fn last_event_id_arc(&mut self) -> Arc<str> {
        self.last_event_id_arc
            .get_or_insert_with(|| Arc::from(self.last_event_id.as_str()))
            .clone()
    }

    /// Rule 25: resets the data and type buffers after a dispatch (deferred so the borrowed
    /// item could point into them). The dispatched text's allocation, if the caller left
    /// it to us, becomes the next data buffer.
    #[inline]
    fn reset_dispatched(&mut self) {
        if self.dispatched {
            self.dispatched = false;
            let text = std::mem::take(&mut self.text);
            if text.capacity() > self.data.capacity() {
                self.data = text.into_bytes();
            }
            self.clear_data();
            self.type_set = false;
        }
    }

    fn clear_data(&mut self) {
        self.data.clear();
        self.has_data = false;
        self.data_checked = 0;
        self.data_decoded = 0;
    }

    /// Drops the block being built after a limit error: it leaves no trace.
    fn abort_block(&mut self) {
        self.clear_data();
        self.type_set = false;
        self.id_pending = false;
        self.skipping_block = true;
    }

    /// One complete line, raw (without its line end): the `max_line` check on its decoded
    /// text, then rules 10-19.
    #[inline]
    fn line(&mut self, raw: &[u8]) -> Kind {
        // The text is at least as long as the bytes and at most three times as long: only
        // a line near the limit needs decoding to know.
        if raw.len() > self.cfg.max_line
            || (raw.len().saturating_mul(3) > self.cfg.max_line
                && text_len(raw) > self.cfg.max_line)
        {
            self.abort_block();
            return Kind::Limit(CapacityError::LineTooLong);
        }
        self.process_line(raw)
    }

    /// Processes one complete line (without its line end), rules 10-19, on its bytes: field
    /// names are ASCII and compared as bytes, values are decoded where they are stored (data
    /// once per event, at dispatch).
    #[inline]
    fn process_line(&mut self, line: &[u8]) -> Kind {
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
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match field {
            // Rule 11: a comment (empty field name).
            Field::Comment => {
                self.comment.clear();
                push_text(&mut self.comment, value);
                return Kind::Comment;
            }
            Field::Data => {
                // Rule 16: append the value and an LF. The buffer keeps the LFs between
                // values only (the last one would go at dispatch, rule 23); the limit counts
                // the text with the final LF.
                let sep = usize::from(self.has_data);
                let raw = self.data.len() + sep + value.len() + 1;
                if raw > self.cfg.max_event_data
                    || (raw.saturating_mul(3) > self.cfg.max_event_data
                        && self.data_text_len() + sep + text_len(value) + 1
                            > self.cfg.max_event_data)
                {
                    self.abort_block();
                    return Kind::Limit(CapacityError::EventDataTooLarge);
                }
                if self.has_data {
                    self.data.reserve(value.len() + 1);
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            Field::Event => {
                // Rule 15. A repeated type is not decoded or copied again (equal bytes are
                // valid UTF-8, so they decode to themselves).
                if value != self.event_type.as_bytes() {
                    self.event_type.clear();
                    push_text(&mut self.event_type, value);
                    if self.event_type.len() > self.cfg.max_event_type_len {
                        self.event_type.clear();
                        self.abort_block();
                        return Kind::Limit(CapacityError::EventTypeTooLong);
                    }
                }
                self.type_set = true;
            }
            // Rule 17: an id containing NUL is ignored; otherwise set, even to "".
            Field::Id if !has_nul(value) => {
                self.id_next.clear();
                push_text(&mut self.id_next, value);
                if self.id_next.len() > self.cfg.max_id_len {
                    self.abort_block();
                    return Kind::Limit(CapacityError::IdTooLong);
                }
                self.id_pending = true;
            }
            // Rule 18: one or more ASCII digits, base 10 (leading zeros fine).
            Field::Retry if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let ms = value.iter().fold(0u64, |acc, &d| {
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

    /// The length of the data buffer's text (without the final LF), decoded incrementally
    /// (each byte looked at once): only asked for events near `max_event_data`. A cut
    /// sequence at the end is followed by the LF of its line, so it is one U+FFFD.
    #[cold]
    fn data_text_len(&mut self) -> usize {
        let rest = self.data.get(self.data_checked..).unwrap_or_default();
        self.data_decoded += text_len(rest);
        self.data_checked = self.data.len();
        self.data_decoded
    }

    /// Rules 20-25: a blank line.
    fn dispatch(&mut self) -> Kind {
        // Rules 20, 21: commit the id buffer, which is not reset.
        // Rule 22: no data, no event.
        if !self.has_data {
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
        // Rule 1, once per event: the data buffer becomes the event's text without a copy
        // when it is valid UTF-8. Rule 23: the final LF was never appended.
        let raw = std::mem::take(&mut self.data);
        self.text = match String::from_utf8(raw) {
            Ok(text) => text,
            Err(e) => {
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                self.data = e.into_bytes();
                text
            }
        };
        // Rules 24, 25: the caller reads type and data, the next step resets them.
        self.dispatched = true;
        Kind::Event
    }
}

/// Appends `bytes` decoded as rule 1 says (U+FFFD per maximal invalid subpart).
#[inline]
fn push_text(dst: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => dst.push_str(s),
        Err(_) => dst.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// The length of `bytes` decoded as rule 1 says: each maximal invalid subpart (a sequence
/// cut by the end included) is the 3 bytes of U+FFFD.
fn text_len(bytes: &[u8]) -> usize {
    let mut len = 0;
    for chunk in bytes.utf8_chunks() {
        len += chunk.valid().len();
        if !chunk.invalid().is_empty() {
            len += char::REPLACEMENT_CHARACTER.len_utf8();
        }
    }
    len
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
/// recognised by their first bytes, without searching for the colon. The names are ASCII, so
/// comparing bytes is comparing decoded text (an invalid byte decodes to U+FFFD, never to a
/// letter of a name).
#[inline]
fn split_field(line: &[u8]) -> (Field, &[u8]) {
    let tail = |n: usize| line.get(n..).unwrap_or_default();
    match line.first() {
        Some(b':') => return (Field::Comment, tail(1)),
        Some(b'd') if line.starts_with(b"data:") => return (Field::Data, tail(5)),
        Some(b'i') if line.starts_with(b"id:") => return (Field::Id, tail(3)),
        Some(b'e') if line.starts_with(b"event:") => return (Field::Event, tail(6)),
        _ => {}
    }
    let (name, value) = match find_colon(line) {
        Some(i) => (line.get(..i).unwrap_or_default(), tail(i + 1)),
        None => (line, &[][..]),
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

/// Does `hay` (meant for fewer than 16 bytes) hold a CR or LF? Two overlapping words cover
/// 8-15 bytes, two overlapping halves 4-7 bytes: SWAR without a loop.
#[inline(always)]
fn has_line_end_short(hay: &[u8]) -> bool {
    if let (Some(a), Some(b)) = (hay.first_chunk::<8>(), hay.last_chunk::<8>()) {
        return eol_bits(u64::from_le_bytes(*a)) | eol_bits(u64::from_le_bytes(*b)) != 0;
    }
    if let (Some(a), Some(b)) = (hay.first_chunk::<4>(), hay.last_chunk::<4>()) {
        let w = u64::from(u32::from_le_bytes(*a)) | (u64::from(u32::from_le_bytes(*b)) << 32);
        return eol_bits(w) != 0;
    }
    hay.iter().any(|&b| b == b'\n' || b == b'\r')
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
            let hit = block.iter().fold(0u8, |acc, &b| {
                acc | u8::from(b == b'\n') | u8::from(b == b'\r')
            });
            if hit != 0 {
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
            if len < 16 {
                for pos in 0..len {
                    for eol in [b'\r', b'\n'] {
                        let mut v = vec![0x8d; len];
                        v[pos] = eol;
                        assert!(has_line_end_short(&v), "{v:?}");
                    }
                }
                assert!(!has_line_end_short(&vec![0x8a; len]));
                assert!(!has_line_end_short(&vec![0x0b; len]));
            }
            assert_eq!(find_colon(&vec![0xba; len]), None);
        }
    }

    /// The data of the single event in `input`, fed in `chunks`, through `next_item_from`.
    fn data_of(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = EventParser::new();
        let mut out = Vec::new();
        for c in chunks {
            let mut c: &[u8] = c;
            while let Some(item) = p.next_item_from(&mut c).unwrap() {
                if let Item::Event(ev) = item {
                    out.push(ev.data);
                }
            }
        }
        out
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
            // A sequence cut by the line end is one maximal subpart.
            (b"\xE2\x82", "\u{FFFD}"),
            (b"\xE2\x82\xAC\xE2", "\u{20AC}\u{FFFD}"),
            (b"a\xF0\x9F\x98", "a\u{FFFD}"),
            // Invalid bytes in the field name: not `data`, so no event.
            (b"", ""),
        ];
        for (bytes, want) in cases {
            let mut input = b"data:".to_vec();
            input.extend_from_slice(bytes);
            input.extend_from_slice(b"\n\n\xFFdata:x\n\n");
            // Whole, byte by byte, and split at every point.
            let mut splits: Vec<Vec<&[u8]>> = vec![vec![&input], input.chunks(1).collect()];
            for i in 0..=input.len() {
                let (x, y) = input.split_at(i);
                splits.push(vec![x, y]);
            }
            for chunks in splits {
                assert_eq!(data_of(&chunks), [*want], "{chunks:x?}");
            }
        }
    }

    #[test]
    fn partial_line_limit_counts_decoded_text_of_complete_characters() {
        // max_line 6: "ab" + an invalid byte is 5 bytes of text, a cut "€" is not counted
        // until it completes.
        let cfg = Config::default().with_max_line(6).with_max_event_data(64);
        let mut p = EventParser::with_config(cfg.clone());
        let mut c: &[u8] = b"ab\xFF\xE2\x82";
        assert_eq!(p.next_item_from(&mut c), Ok(None));
        assert_eq!(p.buffered(), 5);
        let mut c: &[u8] = b"\xAC";
        assert_eq!(
            p.next_item_from(&mut c),
            Err(Error::Capacity(CapacityError::LineTooLong))
        );
        assert_eq!(p.buffered(), 0);
        // Raw bytes within the limit whose text is not.
        let mut p = EventParser::with_config(cfg);
        let mut c: &[u8] = b"\xFF\xFF\xFF";
        assert_eq!(
            p.next_item_from(&mut c),
            Err(Error::Capacity(CapacityError::LineTooLong))
        );
    }
}
