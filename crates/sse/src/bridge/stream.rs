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
    /// The input ended or failed: only what the parser still holds is left to yield.
    done: bool,
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
            done: false,
        }
    }

    /// The parser: [`EventParser::last_event_id`] and
    /// [`EventParser::reconnection_time`] to reconnect with.
    pub fn parser(&self) -> &EventParser {
        &self.parser
    }

    /// Gives the parser back, e.g. to resume on the next connection's body.
    pub fn into_parser(self) -> EventParser {
        self.parser
    }
}

impl<S> std::fmt::Debug for EventStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("parser", &self.parser)
            .field("done", &self.done)
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
        // `EventStream` is `Unpin` (the inner stream is boxed), so plain field access works.
        let this = &mut *self;
        loop {
            // Drain what is buffered before asking for more: one chunk may hold many events.
            match this.parser.next_item() {
                Ok(Some(item)) => return Poll::Ready(Some(Ok(item))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            if this.done {
                return Poll::Ready(None);
            }
            loop {
                match this.inner.as_mut().poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(chunk))) => {
                        // Parsed where it lies; only what follows the first item (if any)
                        // is copied into the parser, since the chunk cannot be kept.
                        let mut rest = chunk.as_ref();
                        // `next_item` above drained what was fed.
                        if this.parser.absorb_drained(rest) {
                            // No line end in it: it joined the partial line.
                            continue;
                        }
                        let item = this.parser.next_item_unabsorbed(&mut rest);
                        if let Ok(None) = item {
                            // All of it was processed and nothing waits: read on.
                            continue;
                        }
                        if !rest.is_empty() {
                            this.parser.feed(rest);
                        }
                        return Poll::Ready(item.transpose());
                    }
                    Poll::Ready(Some(Err(e))) => {
                        this.done = true;
                        this.parser.finish();
                        return Poll::Ready(Some(Err(Error::Io(Arc::new(std::io::Error::other(
                            e,
                        ))))));
                    }
                    Poll::Ready(None) => {
                        // Everything complete was drained; the rest is an unfinished block.
                        this.done = true;
                        this.parser.finish();
                        break;
                    }
                }
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
}
