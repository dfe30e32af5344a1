//! The chunked body decoder (RFC 9112 §7.1) on arbitrary bytes, under small limits.
//!
//! Two modes, picked by the low bit of the fourth config byte:
//! - **arbitrary** (bit clear): the data is a chunked body as a peer sent it. The decoder's
//!   transcript (every data byte, then `End` or the error, and the bytes left after `End`) is
//!   identical fed whole, at fuzzer-chosen cuts and one byte at a time; the body never
//!   exceeds `max_body`; `decoded()` equals what was handed out once the body ends; after `End` nothing
//!   more is consumed, and after an error every call repeats it.
//! - **round trip** (bit set): the data cut at the cuts is a list of chunks; they are encoded
//!   with `encode_chunk` + `encode_last_chunk` and decoded again (whole and at other cuts):
//!   the result is their concatenation, or `BodyTooLarge` exactly when it exceeds `max_body`.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::{BYTEWISE_MAX, Input, small_limit, split_at};
use pushwire_http::{
    BodyChunk, BodyDecoder, BodyKind, CapacityError, Error, Limits, encode_chunk, encode_last_chunk,
};

#[derive(Debug, Clone, PartialEq)]
struct Transcript {
    data: Vec<u8>,
    /// `Ok(true)` ended, `Ok(false)` wants more at EOF, `Err` failed.
    end: Result<bool, Error>,
    /// Bytes after the end, as left in the buffer.
    leftover: Vec<u8>,
}

fn decode<'a>(limits: &Limits, pieces: impl IntoIterator<Item = &'a [u8]>) -> Transcript {
    let mut dec = BodyDecoder::new(BodyKind::Chunked, limits);
    let mut buf = BytesMut::new();
    let mut data = Vec::new();
    let mut end: Result<bool, Error> = Ok(false);
    'feed: for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(BodyChunk::Data(b))) => {
                    assert!(!b.is_empty(), "empty data chunk");
                    data.extend_from_slice(&b);
                    assert!(data.len() as u64 <= limits.max_body, "body over max_body");
                    // `decoded()` counts exactly the bytes handed out (fuzz finding F3).
                    assert_eq!(dec.decoded(), data.len() as u64);
                }
                Ok(Some(BodyChunk::End)) => {
                    assert!(dec.is_done());
                    assert_eq!(dec.decoded(), data.len() as u64);
                    // Done is sticky and consumes nothing more.
                    let before = buf.len();
                    assert_eq!(dec.decode(&mut buf), Ok(Some(BodyChunk::End)));
                    assert_eq!(buf.len(), before);
                    end = Ok(true);
                    break 'feed;
                }
                Ok(None) => {
                    assert!(buf.is_empty(), "wants more with bytes buffered");
                    continue 'feed;
                }
                Err(e) => {
                    assert!(matches!(e.status(), 400 | 413 | 431), "status of {e:?}");
                    let again = dec.decode(&mut BytesMut::from(&b"0\r\n\r\n"[..]));
                    assert_eq!(again, Err(e.clone()), "errors are terminal");
                    end = Err(e);
                    break 'feed;
                }
            }
        }
    }
    // Leftover = bytes of later pieces too (a connection would keep them for the next head).
    let leftover = buf.to_vec();
    Transcript {
        data,
        end,
        leftover,
    }
}

fn limits(cfg: [u8; 4]) -> Limits {
    let d = Limits::default();
    Limits::default()
        .with_max_body(small_limit(cfg[0], d.max_body as usize, 0, 128) as u64)
        .with_max_chunk_ext_bytes(small_limit(cfg[1], d.max_chunk_ext_bytes, 0, 32))
        .with_max_trailer_bytes(small_limit(cfg[2], d.max_trailer_bytes, 0, 48))
}

/// The leftover of a transcript depends on where the feeding stopped; normalise it to "all
/// bytes after the end" so that different feedings compare.
fn normalise(mut t: Transcript, data: &[u8], consumed_whole: Option<usize>) -> Transcript {
    if let (Ok(true), Some(c)) = (&t.end, consumed_whole) {
        t.leftover = data[c..].to_vec();
    } else {
        t.leftover.clear();
    }
    t
}

fuzz_target!(|raw: &[u8]| {
    let input = Input::parse(raw);
    let limits = limits(input.cfg);

    if input.cfg[3] & 1 == 0 {
        let data = input.data;
        let whole = decode(&limits, [data]);
        let consumed = (whole.end == Ok(true)).then(|| data.len() - whole.leftover.len());
        if let Some(c) = consumed {
            assert!(
                data[..c].ends_with(b"\r\n"),
                "a chunked body ends with CRLF"
            );
        }
        let whole = normalise(whole, data, consumed);
        let split = normalise(decode(&limits, input.pieces()), data, consumed);
        assert_eq!(whole, split, "whole vs split at {:?}", input.cuts);
        if data.len() <= BYTEWISE_MAX {
            let bytewise = normalise(decode(&limits, data.chunks(1)), data, consumed);
            assert_eq!(whole, bytewise, "whole vs byte by byte");
        }
    } else {
        let chunks = input.pieces();
        let mut wire = BytesMut::new();
        for c in &chunks {
            encode_chunk(c, &mut wire);
        }
        encode_last_chunk(&mut wire);
        let expect: Vec<u8> = chunks.concat();
        let too_big = expect.len() as u64 > limits.max_body;
        // Cut the encoding at the same positions, scaled into its length.
        let cuts: Vec<usize> = input
            .cuts
            .iter()
            .map(|c| c * 7 % (wire.len() + 1))
            .collect();
        let mut cuts = cuts;
        cuts.sort_unstable();
        for t in [
            decode(&limits, [&wire[..]]),
            decode(&limits, split_at(&wire, &cuts)),
        ] {
            if too_big {
                assert_eq!(t.end, Err(CapacityError::BodyTooLarge.into()));
                assert!(t.data.len() < expect.len());
                assert_eq!(t.data[..], expect[..t.data.len()]);
            } else {
                assert_eq!(t.end, Ok(true), "round trip of {chunks:?}");
                assert_eq!(t.data, expect);
                assert!(t.leftover.is_empty());
            }
        }
    }
});
