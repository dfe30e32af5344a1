//! A tokio-util codec (feature `codec`).

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::{Error, Event, EventParser, Item};

/// `Decoder` of event-stream [`Item`]s and `Encoder` of [`Event`]s, for
/// `tokio_util::codec::FramedRead` / `FramedWrite` / `Framed` over any byte stream.
///
/// Decoding moves the bytes `Framed` read into the [`EventParser`] (which keeps the
/// partial line itself, so nothing is rescanned) and drains items from it; at the end of
/// the input an unfinished block is discarded, as the standard says. A limit hit
/// (`Error::Capacity`) is returned once; `FramedRead` then ends the stream, as it does on
/// every decoder error (tokio #3976).
///
/// ```
/// use bytes::BytesMut;
/// use pushwire_sse::{Event, Item, bridge::EventCodec};
/// use tokio_util::codec::{Decoder, Encoder};
/// let mut codec = EventCodec::new();
/// let mut wire = BytesMut::new();
/// codec.encode(Event::new("hi").with_id("7")?, &mut wire)?;
/// match codec.decode(&mut wire)? {
///     Some(Item::Event(ev)) => assert_eq!((ev.data.as_str(), &*ev.last_event_id), ("hi", "7")),
///     other => panic!("{other:?}"),
/// }
/// assert!(wire.is_empty());
/// # Ok::<(), pushwire_sse::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct EventCodec {
    parser: EventParser,
}

impl EventCodec {
    /// A codec with a default parser.
    pub fn new() -> Self {
        EventCodec::default()
    }

    /// A codec decoding with `parser` (limits, last event id to resume from).
    pub fn with_parser(parser: EventParser) -> Self {
        EventCodec { parser }
    }

    /// The parser, for [`EventParser::last_event_id`] and
    /// [`EventParser::reconnection_time`].
    pub fn parser(&self) -> &EventParser {
        &self.parser
    }
}

impl Decoder for EventCodec {
    type Item = Item;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Item>, Error> {
        if !src.is_empty() {
            self.parser.feed(src);
            src.clear();
        }
        self.parser.next_item()
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Item>, Error> {
        match self.decode(src)? {
            Some(item) => Ok(Some(item)),
            None => {
                // The rest is an unfinished block: not dispatched (WHATWG §9.2.6).
                self.parser.finish();
                Ok(None)
            }
        }
    }
}

impl Encoder<Event> for EventCodec {
    type Error = Error;

    fn encode(&mut self, event: Event, dst: &mut BytesMut) -> Result<(), Error> {
        event.encode(dst);
        Ok(())
    }
}

impl Encoder<&Event> for EventCodec {
    type Error = Error;

    fn encode(&mut self, event: &Event, dst: &mut BytesMut) -> Result<(), Error> {
        event.encode(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    use tokio_util::codec::FramedRead;

    const STREAM: &[u8] =
        b"retry: 10\n\nid: 1\nevent: e\ndata: a\ndata: b\n\n: c\ndata: d\r\n\r\ndata: cut";

    fn parser_items(input: &[u8]) -> Vec<Item> {
        let mut p = EventParser::new();
        p.feed(input);
        std::iter::from_fn(|| p.next_item().unwrap()).collect()
    }

    #[test]
    fn framed_read_over_a_socket_pair_in_odd_writes_gives_the_parsers_items() {
        let expected = parser_items(STREAM);
        assert_eq!(expected.len(), 4);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for step in [1, 3, 7, STREAM.len()] {
            let got: Vec<Item> = rt.block_on(async {
                let (mut w, r) = tokio::io::duplex(64);
                let writer = tokio::spawn(async move {
                    for part in STREAM.chunks(step) {
                        w.write_all(part).await.unwrap();
                    }
                });
                let items = FramedRead::new(r, EventCodec::new())
                    .map(|r| r.unwrap())
                    .collect()
                    .await;
                writer.await.unwrap();
                items
            });
            assert_eq!(got, expected, "writes of {step}");
        }
    }

    #[test]
    fn encoder_output_decodes_to_the_same_event() {
        let mut c = EventCodec::new();
        let mut wire = BytesMut::new();
        let ev = Event::new("line1\nline2").with_event("kind").unwrap();
        c.encode(&ev, &mut wire).unwrap();
        c.encode(ev, &mut wire).unwrap();
        for _ in 0..2 {
            match c.decode(&mut wire).unwrap() {
                Some(Item::Event(m)) => {
                    assert_eq!(m.data, "line1\nline2");
                    assert_eq!(&*m.event_type, "kind");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(c.decode(&mut wire).unwrap(), None);
    }
}
