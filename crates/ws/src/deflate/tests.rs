//! Codec tests: RFC 7692 §7.2.3 vectors split at every byte, round trips, bombs and hostile
//! frames with their exact close codes.

use bytes::BytesMut;
use flate2::{Compress, Compression, FlushCompress};

use super::*;
use crate::frame::{FrameHeader, OpCode, Role, Rsv, encode_frame};
use crate::{CapacityError, CloseCode, Config, Error, Message, Protocol, ProtocolError};

fn takeover() -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        ..DeflateParams::default()
    }
}

fn client_with(params: DeflateParams) -> Protocol {
    let mut p = Protocol::new(Role::Client, &Config::default());
    p.set_deflate(params);
    p
}

/// Feeds `wire` to a fresh client whole, byte by byte and split at every byte, and checks
/// every way yields `expect`.
fn receive_all_splits(params: DeflateParams, wire: &[u8], expect: &[Message]) {
    let run = |cuts: &[usize]| {
        let mut p = client_with(params);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut last = 0;
        for &c in cuts.iter().chain([wire.len()].iter()) {
            buf.extend_from_slice(&wire[last..c]);
            last = c;
            while let Some(m) = p.receive(&mut buf).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, expect, "cuts {cuts:?}");
    };
    run(&[]);
    run(&(1..wire.len()).collect::<Vec<_>>());
    for i in 1..wire.len() {
        run(&[i]);
    }
}

#[test]
fn rfc7692_7_2_3_1_hello_compressed() {
    let wire = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    receive_all_splits(DeflateParams::default(), &wire, &[Message::text("Hello")]);
}

#[test]
fn rfc7692_7_2_3_1_hello_fragmented() {
    let wire = [
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ];
    receive_all_splits(DeflateParams::default(), &wire, &[Message::text("Hello")]);
}

#[test]
fn rfc7692_7_2_3_2_sharing_lz77_window() {
    let wire = [
        0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, // "Hello"
        0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00, // "Hello" again, from the window
    ];
    receive_all_splits(
        takeover(),
        &wire,
        &[Message::text("Hello"), Message::text("Hello")],
    );
    // Without context takeover the second message refers to nothing: a broken stream.
    let mut p = client_with(DeflateParams::default());
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(p.receive(&mut buf).unwrap(), Some(Message::text("Hello")));
    assert_eq!(
        p.receive(&mut buf),
        Err(ProtocolError::BadDeflateStream.into())
    );
}

#[test]
fn rfc7692_7_2_3_3_stored_block() {
    let wire = [
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    receive_all_splits(DeflateParams::default(), &wire, &[Message::text("Hello")]);
}

#[test]
fn rfc7692_7_2_3_4_bfinal_block() {
    let wire = [0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    // Twice: the ended stream is reset for the next message, with or without takeover.
    let twice: Vec<u8> = wire.iter().chain(wire.iter()).copied().collect();
    for params in [DeflateParams::default(), takeover()] {
        receive_all_splits(
            params,
            &twice,
            &[Message::text("Hello"), Message::text("Hello")],
        );
    }
}

#[test]
fn rfc7692_7_2_3_5_two_deflate_blocks() {
    let wire = [
        0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    receive_all_splits(DeflateParams::default(), &wire, &[Message::text("Hello")]);
}

#[test]
fn rfc7692_7_2_3_6_empty_compressed_message() {
    // An empty stored block with the trailer removed: 0x00.
    receive_all_splits(
        DeflateParams::default(),
        &[0xc2, 0x01, 0x00],
        &[Message::binary(bytes::Bytes::new())],
    );
    receive_all_splits(
        DeflateParams::default(),
        &[0xc1, 0x00],
        &[Message::text("")],
    );
}

#[test]
fn rfc7692_7_2_1_compressing_hello_gives_the_rfc_bytes() {
    let cfg = Config::default().with_deflate(DeflateConfig {
        threshold: 1,
        ..DeflateConfig::default()
    });
    // With context takeover every message above the threshold is compressed, even when
    // that makes it longer (without takeover "Hello" would go plain: 7 bytes > 5).
    let mut server = Protocol::new(Role::Server, &cfg);
    server.set_deflate(takeover());
    let mut out = BytesMut::new();
    server.send(&Message::text("Hello"), &mut out).unwrap();
    assert_eq!(
        &out[..],
        &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
    // §7.2.3.2: the second "Hello" refers to the first.
    out.clear();
    server.send(&Message::text("Hello"), &mut out).unwrap();
    assert_eq!(&out[..], &[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
    let mut server = Protocol::new(Role::Server, &cfg);
    server.set_deflate(DeflateParams::default());
    out.clear();
    server.send(&Message::text("Hello"), &mut out).unwrap();
    assert_eq!(&out[..], b"\x81\x05Hello");
}

fn json(n: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < n {
        s.push_str(&format!(
            "{{\"id\":{i},\"topic\":\"prices\",\"bid\":{}.25}},",
            i * 7 % 1000
        ));
        i += 1;
    }
    s.truncate(n);
    s
}

#[test]
fn round_trips_both_roles_with_and_without_takeover() {
    for params in [
        DeflateParams::default(),
        takeover(),
        DeflateParams {
            server_max_window_bits: 9,
            client_max_window_bits: 8,
            ..takeover()
        },
    ] {
        let mut client = client_with(params);
        let mut server = Protocol::new(Role::Server, &Config::default());
        server.set_deflate(params);
        for n in [0, 1, 63, 64, 65, 1000, 16 << 10, 300 << 10] {
            let m = Message::text(json(n));
            let mut wire = BytesMut::new();
            client.send(&m, &mut wire).unwrap();
            if n >= 1000 && params.client_max_window_bits > 8 {
                assert!(wire.len() < n / 2, "client compressed {n}: {}", wire.len());
            }
            assert_eq!(server.receive(&mut wire).unwrap(), Some(m.clone()));
            server.send(&m, &mut wire).unwrap();
            assert_eq!(client.receive(&mut wire).unwrap(), Some(m));
            let b = Message::binary(json(n).into_bytes());
            server.send(&b, &mut wire).unwrap();
            assert_eq!(client.receive(&mut wire).unwrap(), Some(b));
        }
    }
}

#[test]
fn control_frames_are_never_compressed() {
    let mut server = Protocol::new(Role::Server, &Config::default());
    server.set_deflate(DeflateParams::default());
    let mut out = BytesMut::new();
    server
        .send(&Message::Ping(vec![b'a'; 125].into()), &mut out)
        .unwrap();
    assert_eq!(out[0], 0x89, "no RSV1 on a ping");
}

/// A masked frame from a client, header as given.
fn client_frame(fin: bool, rsv: Rsv, opcode: OpCode, payload: &[u8]) -> BytesMut {
    let mut h = FrameHeader::new(opcode, 0);
    h.fin = fin;
    h.rsv = rsv;
    h.mask = Some([1, 2, 3, 4]);
    let mut b = BytesMut::new();
    encode_frame(&h, payload, &mut b);
    b
}

/// A sync-flushed raw deflate stream of `data`, its trailing `00 00 ff ff` still there.
fn raw_deflate_flushed(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out
}

/// `data` as the payload of a one-frame compressed message (§7.2.1: trailer removed).
fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut out = raw_deflate_flushed(data);
    out.truncate(out.len() - 4);
    out
}

fn server(max_message: usize) -> Protocol {
    let cfg = Config::default()
        .with_max_message(max_message)
        .with_max_frame(max_message);
    let mut p = Protocol::new(Role::Server, &cfg);
    p.set_deflate(DeflateParams::default());
    p
}

fn expect_close(p: &mut Protocol, buf: &mut BytesMut, err: Error, code: CloseCode) {
    loop {
        match p.receive(buf) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error, expected {err:?}"),
            Err(e) => {
                assert_eq!(e, err);
                assert_eq!(e.close_code(), Some(code));
                break;
            }
        }
    }
    let mut out = BytesMut::new();
    p.poll_transmit(&mut out);
    assert_eq!(
        &out[2..4],
        &code.0.to_be_bytes(),
        "close frame carries {code:?}"
    );
}

#[test]
fn bomb_small_frame_inflating_past_max_message_is_1009() {
    // 16 MiB of zeros deflate to ~16 KiB; 1 MiB of zeros to about 1 KiB.
    let bomb = raw_deflate(&vec![0u8; 1 << 20]);
    assert!(bomb.len() <= 1100, "{}", bomb.len());
    let mut p = server(64 << 10);
    let mut buf = client_frame(true, Rsv::RSV1, OpCode::Binary, &bomb);
    expect_close(
        &mut p,
        &mut buf,
        CapacityError::MessageTooBig.into(),
        CloseCode::MESSAGE_TOO_BIG,
    );
    // Exactly at the limit is fine.
    let mut p = server(1 << 20);
    let mut buf = client_frame(true, Rsv::RSV1, OpCode::Binary, &bomb);
    assert_eq!(
        p.receive(&mut buf).unwrap().unwrap().payload().len(),
        1 << 20
    );
}

#[test]
fn bomb_endless_non_final_stream_is_1009() {
    // Each non-final frame inflates 64 KiB; the message never ends.
    // Each chunk keeps its empty stored block, so the chunks concatenate into one stream.
    let chunk = raw_deflate_flushed(&vec![b'a'; 64 << 10]);
    let mut p = server(1 << 20);
    let mut buf = client_frame(false, Rsv::RSV1, OpCode::Text, &chunk);
    for _ in 0..100 {
        buf.extend_from_slice(&client_frame(
            false,
            Rsv::NONE,
            OpCode::Continuation,
            &chunk,
        ));
    }
    expect_close(
        &mut p,
        &mut buf,
        CapacityError::MessageTooBig.into(),
        CloseCode::MESSAGE_TOO_BIG,
    );
}

#[test]
fn rfc7692_6_1_rsv1_on_continuation_or_control_is_1002() {
    for (first, second) in [
        (
            client_frame(false, Rsv::RSV1, OpCode::Text, &raw_deflate(b"ab")),
            client_frame(true, Rsv::RSV1, OpCode::Continuation, &raw_deflate(b"cd")),
        ),
        (
            client_frame(false, Rsv::NONE, OpCode::Text, b"ab"),
            client_frame(true, Rsv::RSV1, OpCode::Continuation, b"cd"),
        ),
        (
            BytesMut::new(),
            client_frame(true, Rsv::RSV1, OpCode::Ping, b""),
        ),
        (
            BytesMut::new(),
            client_frame(true, Rsv::RSV1, OpCode::Close, &[0x03, 0xe8]),
        ),
        (
            BytesMut::new(),
            client_frame(true, Rsv::RSV2, OpCode::Text, b"x"),
        ),
    ] {
        let mut p = server(1 << 20);
        let mut buf = first;
        buf.extend_from_slice(&second);
        expect_close(
            &mut p,
            &mut buf,
            ProtocolError::ReservedBits.into(),
            CloseCode::PROTOCOL_ERROR,
        );
    }
}

#[test]
fn rsv1_without_negotiation_is_1002() {
    let mut p = Protocol::new(Role::Server, &Config::default());
    let mut buf = client_frame(true, Rsv::RSV1, OpCode::Text, &raw_deflate(b"Hello"));
    expect_close(
        &mut p,
        &mut buf,
        ProtocolError::ReservedBits.into(),
        CloseCode::PROTOCOL_ERROR,
    );
}

#[test]
fn broken_stream_is_1002_and_bad_utf8_after_inflation_is_1007() {
    let mut p = server(1 << 20);
    // BTYPE 11 is reserved in DEFLATE (RFC 1951 §3.2.3).
    let mut buf = client_frame(true, Rsv::RSV1, OpCode::Binary, &[0xff, 0xff, 0xff]);
    expect_close(
        &mut p,
        &mut buf,
        ProtocolError::BadDeflateStream.into(),
        CloseCode::PROTOCOL_ERROR,
    );
    let mut p = server(1 << 20);
    let mut buf = client_frame(true, Rsv::RSV1, OpCode::Text, &raw_deflate(b"ok \xff bad"));
    expect_close(
        &mut p,
        &mut buf,
        Error::InvalidUtf8,
        CloseCode::INVALID_PAYLOAD,
    );
    // Text cut in the middle of a code point, valid as binary.
    let mut p = server(1 << 20);
    let mut buf = client_frame(
        true,
        Rsv::RSV1,
        OpCode::Text,
        &raw_deflate("é".as_bytes()[..1].as_ref()),
    );
    expect_close(
        &mut p,
        &mut buf,
        Error::InvalidUtf8,
        CloseCode::INVALID_PAYLOAD,
    );
}

#[test]
fn shared_compressed_frame_only_for_compatible_receivers() {
    let payload = json(4096);
    let f = crate::frame::SharedFrame::compressed(OpCode::Text, payload.as_bytes(), 6, 64)
        .unwrap()
        .unwrap();
    let mut ok = server(1 << 20);
    assert!(ok.accepts_compressed_shared());
    ok.check_shared(&f).unwrap();
    // The receiving client inflates it.
    let mut c = client_with(DeflateParams::default());
    let mut wire = BytesMut::from(&f.as_bytes()[..]);
    assert_eq!(
        c.receive(&mut wire).unwrap(),
        Some(Message::text(payload.as_str()))
    );
    for params in [
        None,
        Some(takeover()),
        Some(DeflateParams {
            server_max_window_bits: 10,
            ..DeflateParams::default()
        }),
    ] {
        let mut p = Protocol::new(Role::Server, &Config::default());
        if let Some(params) = params {
            p.set_deflate(params);
        }
        assert!(!p.accepts_compressed_shared());
        assert_eq!(
            p.check_shared(&f),
            Err(crate::UsageError::SharedFrameNotNegotiated.into())
        );
    }
    // Small payloads stay plain.
    assert!(
        crate::frame::SharedFrame::compressed(OpCode::Text, b"tiny", 6, 64)
            .unwrap()
            .is_none()
    );
}

/// `receive_parts` hands out only uncompressed frames in parts: a compressed binary message
/// over the threshold is inflated (bounded by `max_message`) and returned whole.
#[test]
fn rfc7692_6_compressed_messages_are_not_handed_out_in_parts() {
    let mut client = client_with(DeflateParams::default());
    let mut server = Protocol::new(Role::Server, &Config::default());
    server.set_deflate(DeflateParams::default());
    let big = vec![7u8; 100_000];
    let mut wire = BytesMut::new();
    client
        .send(&Message::binary(big.clone()), &mut wire)
        .unwrap();
    assert_eq!(wire[0], 0xc2, "FIN + RSV1 + binary");
    let got = server.receive_parts(&mut wire, 1).unwrap();
    assert_eq!(got, Some(crate::Incoming::Message(Message::binary(big))));
}
