//! Frame decoder tests: RFC 6455 §5.7 vectors at every split, and every rule and limit.

use super::*;
use crate::error::{CapacityError, Error, ProtocolError};

/// Decodes `input` fed in the given pieces; returns the frames and the first error.
fn decode_pieces(role: Role, cfg: &Config, pieces: &[&[u8]]) -> (Vec<Frame>, Option<Error>) {
    let mut dec = FrameDecoder::new(role, cfg);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for p in pieces {
        buf.extend_from_slice(p);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(f)) => out.push(f),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

/// Decodes whole, byte by byte, and split at every boundary (or every `step`-th), and
/// checks that all agree; returns the whole-input result.
fn decode_all_splits(role: Role, input: &[u8], step: usize) -> (Vec<Frame>, Option<Error>) {
    let cfg = Config::default();
    let whole = decode_pieces(role, &cfg, &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(decode_pieces(role, &cfg, &bytes), whole, "byte by byte");
    for i in (0..=input.len()).step_by(step) {
        let (a, b) = input.split_at(i);
        assert_eq!(decode_pieces(role, &cfg, &[a, b]), whole, "split at {i}");
    }
    whole
}

fn one(role: Role, input: &[u8], step: usize) -> Frame {
    let (frames, err) = decode_all_splits(role, input, step);
    assert_eq!(err, None);
    assert_eq!(frames.len(), 1);
    frames.into_iter().next().unwrap()
}

const HELLO_UNMASKED: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const HELLO_MASKED: &[u8] = &[
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

#[test]
fn rfc6455_5_7_single_frame_unmasked_text() {
    let f = one(Role::Client, HELLO_UNMASKED, 1);
    assert!(f.header.fin);
    assert_eq!(f.header.opcode, OpCode::Text);
    assert_eq!(&f.payload[..], b"Hello");
    let mut enc = BytesMut::new();
    encode_frame(&FrameHeader::new(OpCode::Text, 0), b"Hello", &mut enc);
    assert_eq!(&enc[..], HELLO_UNMASKED);
}

#[test]
fn rfc6455_5_7_single_frame_masked_text() {
    let f = one(Role::Server, HELLO_MASKED, 1);
    assert_eq!(f.header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
    assert_eq!(&f.payload[..], b"Hello");
    let mut enc = BytesMut::new();
    let mut h = FrameHeader::new(OpCode::Text, 0);
    h.mask = Some([0x37, 0xfa, 0x21, 0x3d]);
    encode_frame(&h, b"Hello", &mut enc);
    assert_eq!(&enc[..], HELLO_MASKED);
}

#[test]
fn rfc6455_5_7_fragmented_unmasked_text() {
    let input = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let (frames, err) = decode_all_splits(Role::Client, &input, 1);
    assert_eq!(err, None);
    assert_eq!(frames.len(), 2);
    assert!(!frames[0].header.fin && frames[1].header.fin);
    assert_eq!(frames[0].header.opcode, OpCode::Text);
    assert_eq!(frames[1].header.opcode, OpCode::Continuation);
    assert_eq!(&frames[0].payload[..], b"Hel");
    assert_eq!(&frames[1].payload[..], b"lo");
}

#[test]
fn rfc6455_5_7_ping_and_masked_pong() {
    let ping = one(Role::Client, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], 1);
    assert_eq!(ping.header.opcode, OpCode::Ping);
    assert_eq!(&ping.payload[..], b"Hello");
    let pong = one(
        Role::Server,
        &[
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
        1,
    );
    assert_eq!(pong.header.opcode, OpCode::Pong);
    assert_eq!(&pong.payload[..], b"Hello");
}

fn binary_vector(len: usize) -> (Vec<u8>, Vec<u8>) {
    let payload: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let mut v = vec![0x82];
    if len < 65536 {
        v.push(0x7e);
        v.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        v.push(0x7f);
        v.extend_from_slice(&(len as u64).to_be_bytes());
    }
    v.extend_from_slice(&payload);
    (v, payload)
}

#[test]
fn rfc6455_5_7_256_byte_binary_unmasked() {
    let (input, payload) = binary_vector(256);
    assert_eq!(&input[..4], &[0x82, 0x7e, 0x01, 0x00]);
    let f = one(Role::Client, &input, 1);
    assert_eq!(&f.payload[..], &payload[..]);
}

#[test]
fn rfc6455_5_7_64kib_binary_unmasked() {
    let (input, payload) = binary_vector(65536);
    assert_eq!(
        &input[..10],
        &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0],
        "RFC header"
    );
    // Every split of the header, then every 257th byte of the payload.
    for i in 0..=12 {
        let (a, b) = input.split_at(i);
        let (f, e) = decode_pieces(Role::Client, &Config::default(), &[a, b]);
        assert_eq!((f.len(), e), (1, None));
    }
    let f = one(Role::Client, &input, 257);
    assert_eq!(&f.payload[..], &payload[..]);
}

#[test]
fn masked_64kib_at_every_257th_split_unmasks_once() {
    let payload: Vec<u8> = (0..65536u32).map(|i| (i % 253) as u8).collect();
    let mut h = FrameHeader::new(OpCode::Binary, 0);
    h.mask = Some([9, 8, 7, 6]);
    let mut input = BytesMut::new();
    encode_frame(&h, &payload, &mut input);
    let f = one(Role::Server, &input, 257);
    assert_eq!(&f.payload[..], &payload[..]);
}

fn first_error(role: Role, cfg: &Config, input: &[u8]) -> Error {
    let (_, e) = decode_pieces(role, cfg, &[input]);
    let e = e.expect("an error");
    // Split-proof and terminal: byte-by-byte feeding fails the same way.
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(decode_pieces(role, cfg, &bytes).1, Some(e.clone()));
    e
}

#[test]
fn rfc6455_5_1_masking_rules_by_role() {
    let cfg = Config::default();
    assert_eq!(
        first_error(Role::Server, &cfg, HELLO_UNMASKED),
        ProtocolError::UnmaskedFrame.into()
    );
    assert_eq!(
        first_error(Role::Client, &cfg, HELLO_MASKED),
        ProtocolError::MaskedFrame.into()
    );
}

#[test]
fn rfc6455_5_2_reserved_opcodes_and_bits() {
    let cfg = Config::default();
    for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        assert_eq!(
            first_error(Role::Client, &cfg, &[0x80 | op, 0]),
            ProtocolError::ReservedOpcode.into()
        );
    }
    for rsv in [0x40u8, 0x20, 0x10, 0x70] {
        assert_eq!(
            first_error(Role::Client, &cfg, &[0x81 | rsv, 0]),
            ProtocolError::ReservedBits.into()
        );
    }
}

#[test]
fn rsv1_allowed_only_on_first_data_frames_when_negotiated() {
    let cfg = Config::default();
    let mut dec = FrameDecoder::new(Role::Client, &cfg);
    dec.set_allowed_rsv(Rsv::RSV1);
    let mut buf = BytesMut::from(&[0x41, 0x01, b'a'][..]);
    let f = dec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(f.header.rsv, Rsv::RSV1);
    for bad in [[0xc0u8, 0x00], [0xc9, 0x00], [0xa1, 0x00]] {
        let mut dec = FrameDecoder::new(Role::Client, &cfg);
        dec.set_allowed_rsv(Rsv::RSV1);
        let mut buf = BytesMut::from(&bad[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(ProtocolError::ReservedBits.into()),
            "{bad:?}"
        );
    }
}

#[test]
fn rfc6455_5_5_control_frame_rules() {
    let cfg = Config::default();
    assert_eq!(
        first_error(Role::Client, &cfg, &[0x09, 0x00]),
        ProtocolError::FragmentedControl.into()
    );
    assert_eq!(
        first_error(Role::Client, &cfg, &[0x89, 126, 0, 126]),
        ProtocolError::ControlTooLong.into()
    );
    // Judged on the 7-bit field: a non-minimal encoding of 5 fails as soon as it is seen.
    assert_eq!(
        first_error(Role::Client, &cfg, &[0x8a, 126, 0, 5, 1, 2, 3, 4, 5]),
        ProtocolError::ControlTooLong.into()
    );
    let mut v = vec![0x89, 127, 0, 0, 0, 0, 0, 0, 0, 126];
    v.extend_from_slice(&[0; 126]);
    assert_eq!(
        first_error(Role::Client, &cfg, &v),
        ProtocolError::ControlTooLong.into()
    );
    let mut ok = vec![0x89, 125];
    ok.extend_from_slice(&[0u8; 125]);
    assert_eq!(decode_pieces(Role::Client, &cfg, &[&ok]).0.len(), 1);
}

#[test]
fn rfc6455_5_2_length_msb() {
    let mut v = vec![0x82, 0x7f];
    v.extend_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(
        first_error(Role::Client, &Config::default(), &v),
        ProtocolError::LengthMsb.into()
    );
}

#[test]
fn max_frame_is_checked_on_the_header_before_the_payload() {
    let cfg = Config::default().with_max_frame(1000);
    let mut dec = FrameDecoder::new(Role::Client, &cfg);
    let mut buf = BytesMut::from(&[0x82, 0x7e, 0x03, 0xe8][..]); // exactly 1000
    assert_eq!(dec.decode(&mut buf), Ok(None));
    let mut dec = FrameDecoder::new(Role::Client, &cfg);
    let mut buf = BytesMut::from(&[0x82, 0x7e, 0x03, 0xe9][..]); // 1001, no payload sent
    assert_eq!(dec.decode(&mut buf), Err(CapacityError::FrameTooBig.into()));
    assert_eq!(
        Error::from(CapacityError::FrameTooBig).close_code(),
        Some(crate::CloseCode::MESSAGE_TOO_BIG)
    );
    // Terminal: later calls return the same error.
    buf.extend_from_slice(HELLO_UNMASKED);
    assert_eq!(dec.decode(&mut buf), Err(CapacityError::FrameTooBig.into()));
    // A 2^62 announcement costs nothing either.
    let mut v = vec![0x82, 0x7f];
    v.extend_from_slice(&(1u64 << 62).to_be_bytes());
    assert_eq!(
        first_error(Role::Client, &Config::default(), &v),
        CapacityError::FrameTooBig.into()
    );
}

#[test]
fn partial_exposes_unmasked_prefix() {
    let cfg = Config::default();
    let mut dec = FrameDecoder::new(Role::Server, &cfg);
    let mut buf = BytesMut::from(&HELLO_MASKED[..8]);
    assert_eq!(dec.decode(&mut buf), Ok(None));
    let (h, got) = dec.partial(&buf).unwrap();
    assert_eq!(h.opcode, OpCode::Text);
    assert_eq!(got, b"He");
    assert_eq!(dec.remaining(&buf), 3);
}

#[test]
fn shared_frame_is_a_valid_server_frame() {
    let f = SharedFrame::new(OpCode::Binary, &[7u8; 300]).unwrap();
    let (frames, e) = decode_pieces(Role::Client, &Config::default(), &[f.as_bytes()]);
    assert_eq!(e, None);
    assert_eq!(&frames[0].payload[..], &[7u8; 300][..]);
    assert!(SharedFrame::new(OpCode::Ping, &[0u8; 126]).is_err());
}

// ------------------------------------------------------------------ frames in parts

/// What `decode_parts` returned for `pieces` (binary frames of at least `min` bytes in
/// parts), with each frame's parts joined back into one `Frame`, plus the first error.
/// Checks on the way that parts are contiguous, end with exactly one `is_last`, and that
/// nothing of a frame in parts stays buffered between calls.
fn decode_parts_pieces(role: Role, min: u64, pieces: &[&[u8]]) -> (Vec<Frame>, Option<Error>) {
    let mut dec = FrameDecoder::new(role, &Config::default());
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut open: Option<(FrameHeader, Vec<u8>)> = None;
    let big = |h: &FrameHeader| h.opcode == OpCode::Binary && h.payload_len >= min;
    for p in pieces {
        buf.extend_from_slice(p);
        loop {
            match dec.decode_parts(&mut buf, big) {
                Ok(Some(Decoded::Frame(f))) => {
                    assert!(open.is_none(), "a whole frame inside a frame in parts");
                    out.push(f);
                }
                Ok(Some(Decoded::Part(part))) => {
                    assert!(big(&part.header));
                    let (h, mut data) = open.take().unwrap_or((part.header, Vec::new()));
                    assert_eq!(h, part.header, "one header for all parts");
                    assert_eq!(part.offset, data.len() as u64, "parts are contiguous");
                    assert_eq!(part.is_first(), data.is_empty());
                    assert!(!part.data.is_empty() || part.header.payload_len == 0);
                    data.extend_from_slice(&part.data);
                    if part.is_last() {
                        out.push(Frame {
                            header: h,
                            payload: Bytes::from(data),
                        });
                    } else {
                        assert!(buf.is_empty(), "what arrived was handed out");
                        open = Some((h, data));
                    }
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    assert!(open.is_none() || buf.is_empty());
    (out, None)
}

/// A server's input: a 300-byte binary frame (16-bit length), RFC 6455 §5.7's masked
/// "Hello", a 20-byte binary frame, an empty binary frame, and 70,000 bytes (64-bit length),
/// each masked with its own key so every key phase meets every split.
fn mixed_masked_input() -> Vec<u8> {
    let mut input = BytesMut::new();
    for (i, len) in [300usize, 20, 0, 70_000].into_iter().enumerate() {
        let payload: Vec<u8> = (0..len).map(|j| (j * 7 % 251) as u8).collect();
        let mut h = FrameHeader::new(OpCode::Binary, 0);
        h.mask = Some([0x11 * i as u8 + 1, 0x5a, 0xa5, 0x3c]);
        encode_frame(&h, &payload, &mut input);
        if i == 0 {
            input.extend_from_slice(HELLO_MASKED);
        }
    }
    input.to_vec()
}

#[test]
fn rfc6455_5_3_parts_unmask_like_whole_frames_at_every_split() {
    let input = mixed_masked_input();
    let (whole, e) = decode_pieces(Role::Server, &Config::default(), &[&input]);
    assert_eq!((whole.len(), e), (5, None));
    for min in [0, 21, 300, 301, u64::MAX] {
        assert_eq!(
            decode_parts_pieces(Role::Server, min, &[&input]),
            (whole.clone(), None),
            "whole, min {min}"
        );
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(
            decode_parts_pieces(Role::Server, min, &bytes),
            (whole.clone(), None),
            "byte by byte, min {min}"
        );
    }
    // Every boundary of the first frames and the large frame's header, every 97th after.
    let every = (0..=400).chain((400..=input.len()).step_by(97));
    for i in every.chain([input.len()]) {
        let (a, b) = input.split_at(i);
        assert_eq!(
            decode_parts_pieces(Role::Server, 21, &[a, b]),
            (whole.clone(), None),
            "split at {i}"
        );
    }
    // Three pieces, so that parts start at every key phase and alignment.
    for i in 0..40 {
        for j in [i + 1, i + 2, i + 3, i + 250, i + 299] {
            let (a, rest) = input.split_at(i);
            let (b, c) = rest.split_at(j - i);
            assert_eq!(
                decode_parts_pieces(Role::Server, 21, &[a, b, c]),
                (whole.clone(), None),
                "split at {i} and {j}"
            );
        }
    }
}

#[test]
fn parts_of_unmasked_frames_for_a_client() {
    let (input, payload) = binary_vector(65536);
    let bytes: Vec<&[u8]> = input.chunks(4096).collect();
    let (frames, e) = decode_parts_pieces(Role::Client, 1, &bytes);
    assert_eq!(e, None);
    assert_eq!(&frames[0].payload[..], &payload[..]);
}

#[test]
fn parts_are_chosen_once_per_validated_header() {
    let mut dec = FrameDecoder::new(Role::Server, &Config::default());
    let mut calls = 0;
    let mut buf = BytesMut::from(&HELLO_MASKED[..4]);
    // An incomplete header is not shown to the predicate.
    assert_eq!(
        dec.decode_parts(&mut buf, |_| {
            calls += 1;
            true
        }),
        Ok(None)
    );
    assert_eq!(calls, 0);
    buf.extend_from_slice(&HELLO_MASKED[4..8]);
    let got = dec.decode_parts(&mut buf, |h| {
        calls += 1;
        h.opcode == OpCode::Text
    });
    let Ok(Some(Decoded::Part(p))) = got else {
        panic!("{got:?}")
    };
    assert_eq!((p.offset, &p.data[..], p.is_last()), (0, &b"He"[..], false));
    assert_eq!(calls, 1);
    // The rest of the frame is parts, whatever the predicate says now.
    buf.extend_from_slice(&HELLO_MASKED[8..]);
    let got = dec.decode_parts(&mut buf, |_| {
        calls += 1;
        false
    });
    let Ok(Some(Decoded::Part(p))) = got else {
        panic!("{got:?}")
    };
    assert_eq!((p.offset, &p.data[..], p.is_last()), (2, &b"llo"[..], true));
    assert_eq!(calls, 1);
    // A broken header fails before the predicate sees it.
    let mut buf = BytesMut::from(HELLO_UNMASKED);
    assert_eq!(
        dec.decode_parts(&mut buf, |_| panic!("predicate called")),
        Err(ProtocolError::UnmaskedFrame.into())
    );
}

#[test]
fn empty_frame_in_parts_is_one_last_part() {
    let mut dec = FrameDecoder::new(Role::Client, &Config::default());
    let mut buf = BytesMut::from(&[0x82, 0x00, 0x81, 0x00][..]);
    let got = dec.decode_parts(&mut buf, |h| h.opcode == OpCode::Binary);
    let Ok(Some(Decoded::Part(p))) = got else {
        panic!("{got:?}")
    };
    assert!(p.is_first() && p.is_last() && p.data.is_empty());
    let got = dec.decode_parts(&mut buf, |h| h.opcode == OpCode::Binary);
    assert!(matches!(got, Ok(Some(Decoded::Frame(f))) if f.header.opcode == OpCode::Text));
}

#[test]
fn max_frame_fails_a_frame_in_parts_before_any_part() {
    let cfg = Config::default().with_max_frame(1000);
    let mut dec = FrameDecoder::new(Role::Client, &cfg);
    let mut buf = BytesMut::from(&[0x82, 0x7e, 0x03, 0xe9, 1, 2, 3][..]); // 1001
    assert_eq!(
        dec.decode_parts(&mut buf, |_| true),
        Err(CapacityError::FrameTooBig.into())
    );
    assert_eq!(
        dec.decode_parts(&mut buf, |_| true),
        Err(CapacityError::FrameTooBig.into()),
        "terminal"
    );
}

#[test]
fn a_frame_in_parts_cannot_be_finished_whole() {
    let mut dec = FrameDecoder::new(Role::Client, &Config::default());
    let mut buf = BytesMut::from(&[0x82, 0x04, 1, 2][..]);
    assert!(matches!(
        dec.decode_parts(&mut buf, |_| true),
        Ok(Some(Decoded::Part(_)))
    ));
    assert_eq!(dec.remaining(&buf), 2);
    buf.extend_from_slice(&[3, 4]);
    let e = Error::from(crate::error::UsageError::FrameInParts);
    assert_eq!(dec.decode(&mut buf), Err(e.clone()));
    assert_eq!(dec.decode(&mut buf), Err(e), "terminal");
}
