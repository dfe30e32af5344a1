//! Events from any stream of byte chunks (feature `stream`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::{Error, EventParser, Item};

/// Parses an event stream out of a `Stream` of byte chunks: a reqwest response's
/// `bytes_stream()`, a hyper body (`http_body_util::BodyStream` + `into_data_stream()`),
/// a file, a channel. Yields every [`Item`] the [`EventParser`] produces, in order.
///
/// - A chunk error ends the stream after one `Err(Error::Io(..))` carrying it.
/// - A limit hit (`Error::Capacity`) is reported once and parsing goes on after the
///   offending block, as [`EventParser::next_item`] does.
/// - At the end of the input an unfinished block is discarded (WHATWG: "If the file ends
///   in the middle of an event, before the final empty line, the incomplete event is not
///   dispatched").
///
/// Reconnecting is the caller's business (see [`client`](crate::client) for a client that
/// does it); [`EventStream::parser`] gives the last event id and reconnection time to
/// resume with.
///
/// ```
/// use bytes::Bytes;
/// use futures::StreamExt;
/// use pushwire_sse::{Item, bridge::EventStream};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let body = futures::stream::iter([
///     Ok::<_, std::io::Error>(Bytes::from_static(b"id: 1\ndata: hel")),
///     Ok(Bytes::from_static(b"lo\n\n")),
/// ]);
/// let mut events = EventStream::new(body);
/// match events.next().await {
///     Some(Ok(Item::Event(ev))) => assert_eq!(ev.data, "hello"),
///     other => panic!("{other:?}"),
/// }
/// assert!(events.next().await.is_none());
/// assert_eq!(events.parser().last_event_id(), "1");
/// # });
/// ```
pub struct EventStream<S> {
    inner: Pin<Box<S>>,
    parser: EventParser,
    /// Small chunks of a line whose end has not arrived, raw: they reach the parser in one
    /// `feed` with the chunk that ends the line. A body that arrives a few bytes at a time
    /// (a slow server, a proxy that flushes often) then costs a search and an append per
    /// chunk instead of a decode and a parse step per chunk; the parser sees the same bytes
    /// in the same order, so its output cannot differ (it is split-proof).
    pending: Vec<u8>,
    tail: Tail,
}

/// Where the input is: what is left to do once the parser is drained.
#[derive(Debug)]
enum Tail {
    Reading,
    /// The input ended: finish the parser (its last unfinished block goes).
    Ended,
    /// A chunk failed: finish the parser, then report the error.
    Failed(Error),
    /// Only what the parser still holds is left to yield.
    Done,
}

/// Chunks up to this size are held back while they hold no line end. Larger chunks go to the
/// parser at once: they end a line often enough that the search would be wasted work.
const SMALL_CHUNK: usize = 256;

/// At most this many bytes are held back (8 KiB): past it they are fed, and the parser's own
/// `max_line` limit governs the line from there, so memory stays bounded whatever the
/// chunking.
const PENDING_MAX: usize = 8 * 1024;

/// Whether `chunk` holds a CR or LF: one compare for the one-byte chunks of a trickling body.
#[inline]
fn has_line_end(chunk: &[u8]) -> bool {
    match *chunk {
        [b] => b == b'\n' || b == b'\r',
        _ => chunk.iter().any(|&b| b == b'\n' || b == b'\r'),
    }
}

impl<S> EventStream<S> {
    /// Parses `inner` with a default [`EventParser`].
    pub fn new(inner: S) -> Self {
        EventStream::with_parser(inner, EventParser::new())
    }

    /// Parses `inner` with `parser` (its [`Config`](crate::Config) limits, or a last event
    /// id to resume from).
    pub fn with_parser(inner: S, parser: EventParser) -> Self {
        EventStream {
            inner: Box::pin(inner),
            parser,
            pending: Vec::new(),
            tail: Tail::Reading,
        }
    }

    /// The parser: [`EventParser::last_event_id`] and
    /// [`EventParser::reconnection_time`] to reconnect with. (Up to 8 KiB of an unfinished
    /// line may still wait in the adapter, not counted by [`EventParser::buffered`].)
    pub fn parser(&self) -> &EventParser {
        &self.parser
    }

    /// Gives the parser back, e.g. to resume on the next connection's body; bytes of an
    /// unfinished line the adapter still held are fed to it first, so nothing is lost.
    pub fn into_parser(mut self) -> EventParser {
        self.flush_pending();
        self.parser
    }

    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            self.parser.feed(&self.pending);
            self.pending.clear();
        }
    }
}

impl<S> std::fmt::Debug for EventStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("parser", &self.parser)
            .field("pending", &self.pending.len())
            .field("tail", &self.tail)
            .finish_non_exhaustive()
    }
}

impl<S, B, E> Stream for EventStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Item, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match this.parser.next_item() {
                Ok(Some(item)) => return Poll::Ready(Some(Ok(item))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            // Drained: what the input's state asks for. The held-back bytes were fed before
            // the input's end was taken in, and drained first, so a partial line's limit
            // error comes before the end (as it does when every chunk is fed).
            match std::mem::replace(&mut this.tail, Tail::Done) {
                Tail::Done => return Poll::Ready(None),
                Tail::Ended => {
                    this.parser.finish();
                    continue;
                }
                Tail::Failed(e) => {
                    this.parser.finish();
                    return Poll::Ready(Some(Err(e)));
                }
                Tail::Reading => this.tail = Tail::Reading,
            }
            // Read until a chunk gives the parser something to do. Holding back stops at
            // PENDING_MAX, so a body that never ends a line still reaches the parser (and
            // its limit), and this loop cannot run unbounded.
            loop {
                match this.inner.as_mut().poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(chunk))) => {
                        let chunk = chunk.as_ref();
                        if chunk.len() <= SMALL_CHUNK
                            && this.pending.len() + chunk.len() <= PENDING_MAX
                        {
                            this.pending.extend_from_slice(chunk);
                            if !has_line_end(chunk) {
                                continue;
                            }
                            // The line's end came: the held line and this chunk in one feed.
                            this.flush_pending();
                        } else {
                            this.flush_pending();
                            this.parser.feed(chunk);
                        }
                    }
                    Poll::Ready(Some(Err(e))) => {
                        this.flush_pending();
                        this.tail = Tail::Failed(Error::Io(Arc::new(std::io::Error::other(e))));
                    }
                    Poll::Ready(None) => {
                        this.flush_pending();
                        this.tail = Tail::Ended;
                    }
                }
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::StreamExt;

    /// A mixed stream: BOM, CRLF / CR / LF line ends, comments, retry, ids, multi-line data.
    const STREAM: &[u8] =
        b"\xEF\xBB\xBF: hi\r\nretry: 1500\r\n\r\nid: 1\revent: a\rdata: x\rdata: y\r\r\
        data: plain\n\nid: 2\n\n: keep\ndata:no space\n\ndata: unfinished";

    fn collect(chunks: Vec<Bytes>) -> Vec<Item> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            EventStream::new(futures::stream::iter(
                chunks.into_iter().map(Ok::<_, std::io::Error>),
            ))
            .map(|r| r.unwrap())
            .collect()
            .await
        })
    }

    fn parser_items(input: &[u8]) -> Vec<Item> {
        let mut p = EventParser::new();
        p.feed(input);
        let mut out = Vec::new();
        while let Some(i) = p.next_item().unwrap() {
            out.push(i);
        }
        out
    }

    #[test]
    fn whole_byte_by_byte_and_every_split_give_the_parsers_items() {
        let expected = parser_items(STREAM);
        assert_eq!(expected.len(), 7, "{expected:?}");
        assert_eq!(collect(vec![Bytes::from_static(STREAM)]), expected);
        let bytes: Vec<Bytes> = STREAM
            .iter()
            .map(|b| Bytes::copy_from_slice(&[*b]))
            .collect();
        assert_eq!(collect(bytes), expected);
        for at in 0..=STREAM.len() {
            let (a, b) = STREAM.split_at(at);
            let got = collect(vec![Bytes::copy_from_slice(a), Bytes::copy_from_slice(b)]);
            assert_eq!(got, expected, "split at {at}");
        }
    }

    #[test]
    fn unfinished_event_at_end_of_input_is_not_dispatched() {
        let items = collect(vec![Bytes::from_static(b"data: a\n\ndata: b\n")]);
        assert_eq!(items.len(), 1);
        assert!(matches!(&items[0], Item::Event(ev) if ev.data == "a"));
    }

    #[test]
    fn a_chunk_error_is_reported_once_and_ends_the_stream() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let chunks = vec![
                Ok(Bytes::from_static(b"data: a\n\ndata: cut")),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "reset",
                )),
                Ok(Bytes::from_static(b"\n\ndata: never\n\n")),
            ];
            let mut s = EventStream::new(futures::stream::iter(chunks));
            assert!(matches!(s.next().await, Some(Ok(Item::Event(ev))) if ev.data == "a"));
            match s.next().await {
                Some(Err(Error::Io(e))) => assert_eq!(e.kind(), std::io::ErrorKind::Other),
                other => panic!("{other:?}"),
            }
            assert!(s.next().await.is_none());
            assert!(s.next().await.is_none());
        });
    }

    #[test]
    fn a_limit_is_reported_and_parsing_goes_on() {
        let cfg = crate::Config::default().with_max_event_data(4);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(
                b"data: far too long\n\ndata: ok\n\n",
            ))]);
            let mut s = EventStream::with_parser(body, EventParser::with_config(cfg));
            assert!(matches!(s.next().await, Some(Err(Error::Capacity(_)))));
            assert!(matches!(s.next().await, Some(Ok(Item::Event(ev))) if ev.data == "ok"));
            assert!(s.next().await.is_none());
        });
    }

    #[test]
    fn a_line_trickled_past_the_hold_back_limit_still_hits_max_line() {
        // 20,000 one-byte chunks without a line end: more than PENDING_MAX is never held,
        // the parser gets the bytes and its max_line (10,000) cuts the line once.
        let cfg = crate::Config::default().with_max_line(10_000);
        let mut input = b"data: ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 20_000));
        input.extend_from_slice(
            b"

data: next

",
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let chunks: Vec<_> = input
                .iter()
                .map(|b| Ok::<_, std::io::Error>(Bytes::copy_from_slice(&[*b])))
                .collect();
            let mut s = EventStream::with_parser(
                futures::stream::iter(chunks),
                EventParser::with_config(cfg),
            );
            match s.next().await {
                Some(Err(Error::Capacity(e))) => {
                    assert_eq!(e, crate::CapacityError::LineTooLong)
                }
                other => panic!("{other:?}"),
            }
            assert!(s.pending.len() <= PENDING_MAX);
            assert!(matches!(s.next().await, Some(Ok(Item::Event(ev))) if ev.data == "next"));
            assert!(s.next().await.is_none());
        });
    }

    #[test]
    fn into_parser_keeps_the_bytes_held_back() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            // The body sends half a line and then stalls.
            let body = futures::stream::iter([
                Ok::<_, std::io::Error>(Bytes::from_static(b"data: ha")),
                Ok(Bytes::from_static(b"lf")),
            ])
            .chain(futures::stream::pending());
            let mut s = EventStream::new(body);
            assert!(futures::poll!(s.next()).is_pending());
            assert_eq!(s.pending, b"data: half");
            let mut parser = s.into_parser();
            parser.feed(b"\n\n");
            match parser.next_item() {
                Ok(Some(Item::Event(ev))) => assert_eq!(ev.data, "half"),
                other => panic!("{other:?}"),
            }
        });
    }
}
