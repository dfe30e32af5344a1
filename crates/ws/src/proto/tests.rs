//! Protocol tests: messages from RFC 6455 §5.7 vectors at every split, fragmentation,
//! UTF-8, limits, the close handshake and the timers.

use std::time::{Duration, Instant};

use super::*;
use crate::close::CloseCode;
use crate::error::{CapacityError, ProtocolError};

/// Masks a list of (opcode byte, payload) frames as a client would.
fn client_frames(frames: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for (b0, payload) in frames {
        let mut h = FrameHeader::parse(&[*b0, 0]).unwrap().unwrap().0;
        h.mask = Some([0xa1, 0xb2, 0xc3, 0xd4]);
        encode_frame(&h, payload, &mut out);
    }
    out.to_vec()
}

/// Everything `receive` returns for `pieces`, ending with the error if one occurred,
/// plus what `poll_transmit` produced.
fn run(role: Role, cfg: &Config, pieces: &[&[u8]]) -> (Vec<Result<Message, Error>>, Vec<u8>) {
    let mut p = Protocol::new(role, cfg);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut tx = BytesMut::new();
    'outer: for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match p.receive(&mut buf) {
                Ok(Some(m)) => out.push(Ok(m)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    break 'outer;
                }
            }
        }
    }
    p.poll_transmit(&mut tx);
    (out, tx.to_vec())
}

/// Runs `input` whole, byte by byte and split at every boundary; all must agree. The
/// transmitted bytes are compared too for servers (clients mask with random keys).
fn run_all_splits(role: Role, cfg: &Config, input: &[u8]) -> Vec<Result<Message, Error>> {
    let (whole, tx) = run(role, cfg, &[input]);
    let same = |(m, t): (Vec<Result<Message, Error>>, Vec<u8>), what: &str| {
        assert_eq!(m, whole, "{what}");
        if role == Role::Server {
            assert_eq!(t, tx, "{what}");
        }
    };
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    same(run(role, cfg, &bytes), "byte by byte");
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        same(run(role, cfg, &[a, b]), &format!("split at {i}"));
    }
    whole
}

fn cfg() -> Config {
    Config::default()
}

#[test]
fn rfc6455_5_7_messages_at_every_split() {
    let hello = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        run_all_splits(Role::Client, &cfg(), &hello),
        vec![Ok(Message::text("Hello"))]
    );
    let masked = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        run_all_splits(Role::Server, &cfg(), &masked),
        vec![Ok(Message::text("Hello"))]
    );
    let frag = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(
        run_all_splits(Role::Client, &cfg(), &frag),
        vec![Ok(Message::text("Hello"))]
    );
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        run_all_splits(Role::Client, &cfg(), &ping),
        vec![Ok(Message::Ping(Bytes::from_static(b"Hello")))]
    );
}

#[test]
fn rfc6455_5_5_2_ping_is_answered_with_pong_of_same_payload() {
    let input = client_frames(&[(0x89, b"Hello")]);
    let (msgs, tx) = run(Role::Server, &cfg(), &[&input]);
    assert_eq!(msgs, vec![Ok(Message::Ping(Bytes::from_static(b"Hello")))]);
    assert_eq!(tx, b"\x8a\x05Hello");
}

#[test]
fn only_the_latest_of_several_pings_is_answered() {
    let input = client_frames(&[(0x89, b"1"), (0x89, b"2"), (0x89, b"3")]);
    let (_, tx) = run(Role::Server, &cfg(), &[&input]);
    assert_eq!(tx, b"\x8a\x013");
}

#[test]
fn rfc6455_5_4_control_frames_interleaved_in_fragments() {
    let input = client_frames(&[
        (0x01, b"Hel"),
        (0x89, b"p"),
        (0x00, b"l"),
        (0x8a, b"q"),
        (0x80, b"o"),
    ]);
    let got = run_all_splits(Role::Server, &cfg(), &input);
    assert_eq!(
        got,
        vec![
            Ok(Message::Ping(Bytes::from_static(b"p"))),
            Ok(Message::Pong(Bytes::from_static(b"q"))),
            Ok(Message::text("Hello")),
        ]
    );
}

#[test]
fn rfc6455_5_4_continuation_without_start_is_1002() {
    let input = client_frames(&[(0x80, b"x")]);
    let got = run_all_splits(Role::Server, &cfg(), &input);
    assert_eq!(got, vec![Err(ProtocolError::UnexpectedContinuation.into())]);
    let (_, tx) = run(Role::Server, &cfg(), &[&input]);
    assert_eq!(tx, b"\x88\x02\x03\xea", "close 1002 queued");
}

#[test]
fn rfc6455_5_4_new_message_inside_fragmented_one_is_1002() {
    let input = client_frames(&[(0x01, b"a"), (0x81, b"b")]);
    assert_eq!(
        run_all_splits(Role::Server, &cfg(), &input),
        vec![Err(ProtocolError::ExpectedContinuation.into())]
    );
}

#[test]
fn rfc6455_8_1_invalid_utf8_fails_mid_frame_before_it_completes() {
    // A 100-byte text frame whose 4th byte starts a code point above U+10FFFF: the error
    // must come as soon as the second byte of that sequence arrives.
    let mut payload = b"abc\xf4\x90\x80\x80".to_vec();
    payload.resize(100, b'x');
    let input = client_frames(&[(0x81, &payload)]);
    let header_len = 2 + 4;
    let mut p = Protocol::new(Role::Server, &cfg());
    let mut buf = BytesMut::from(&input[..header_len + 4]);
    assert_eq!(p.receive(&mut buf), Ok(None));
    buf.extend_from_slice(&input[header_len + 4..header_len + 5]);
    assert_eq!(p.receive(&mut buf), Err(Error::InvalidUtf8));
    let mut tx = BytesMut::new();
    p.poll_transmit(&mut tx);
    assert_eq!(&tx[..], b"\x88\x02\x03\xef", "close 1007");
}

#[test]
fn rfc6455_8_1_utf8_across_fragments() {
    let euro = "€".as_bytes(); // e2 82 ac
    let ok = client_frames(&[(0x01, &euro[..1]), (0x00, &euro[1..2]), (0x80, &euro[2..])]);
    assert_eq!(
        run_all_splits(Role::Server, &cfg(), &ok),
        vec![Ok(Message::text("€"))]
    );
    let truncated = client_frames(&[(0x01, &euro[..2]), (0x80, b"")]);
    assert_eq!(
        run_all_splits(Role::Server, &cfg(), &truncated),
        vec![Err(Error::InvalidUtf8)]
    );
    // Binary messages are not validated.
    let bin = client_frames(&[(0x82, b"\xff\xfe")]);
    assert_eq!(
        run(Role::Server, &cfg(), &[&bin]).0,
        vec![Ok(Message::binary(Bytes::from_static(b"\xff\xfe")))]
    );
}

#[test]
fn max_message_is_checked_on_each_header() {
    let c = cfg().with_max_frame(10).with_max_message(10);
    let ok = client_frames(&[(0x02, b"12345"), (0x80, b"67890")]);
    assert_eq!(run(Role::Server, &c, &[&ok]).0.len(), 1);
    let over = client_frames(&[(0x02, b"12345"), (0x80, b"678901")]);
    // The second header alone (no payload yet) already fails.
    let header_end = 6 + 5 + 6;
    let (msgs, tx) = run(Role::Server, &c, &[&over[..header_end]]);
    assert_eq!(msgs, vec![Err(CapacityError::MessageTooBig.into())]);
    assert_eq!(tx, b"\x88\x02\x03\xf1", "close 1009");
    let big_frame = client_frames(&[(0x82, b"12345678901")]);
    assert_eq!(
        run(Role::Server, &c, &[&big_frame[..6]]).0,
        vec![Err(CapacityError::FrameTooBig.into())]
    );
}

#[test]
fn rfc6455_5_5_1_peer_close_is_echoed_and_ends_the_stream() {
    let input = client_frames(&[(0x88, b"\x03\xe8bye"), (0x81, b"after")]);
    let (msgs, tx) = run(Role::Server, &cfg(), &[&input]);
    assert_eq!(msgs.len(), 1, "nothing after the close: {msgs:?}");
    let Ok(Message::Close(Some(f))) = &msgs[0] else {
        panic!("{msgs:?}")
    };
    assert_eq!((f.code, f.reason.as_str()), (CloseCode::NORMAL, "bye"));
    assert_eq!(tx, b"\x88\x02\x03\xe8");

    let empty = client_frames(&[(0x88, b"")]);
    let (msgs, tx) = run(Role::Server, &cfg(), &[&empty]);
    assert_eq!(msgs, vec![Ok(Message::Close(None))]);
    assert_eq!(tx, b"\x88\x00");
}

#[test]
fn rfc6455_7_4_close_payload_errors() {
    for (payload, err) in [
        (&b"\x03"[..], Error::from(ProtocolError::CloseTooShort)),
        (b"\x03\xed", ProtocolError::InvalidCloseCode.into()),
        (b"\x00\x00", ProtocolError::InvalidCloseCode.into()),
        (b"\x0b\xb7", ProtocolError::InvalidCloseCode.into()),
        (
            b"\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
            Error::InvalidUtf8,
        ),
    ] {
        let input = client_frames(&[(0x88, payload)]);
        let (msgs, tx) = run(Role::Server, &cfg(), &[&input]);
        let code = err.close_code().unwrap().0;
        assert_eq!(msgs, vec![Err(err)]);
        let mut expect = vec![0x88, 0x02];
        expect.extend_from_slice(&code.to_be_bytes());
        assert_eq!(tx, expect);
    }
}

#[test]
fn our_close_then_peer_close_completes_and_refuses_data() {
    let mut p = Protocol::new(Role::Server, &cfg());
    let mut tx = BytesMut::new();
    p.close(CloseCode::GOING_AWAY, "bye", &mut tx).unwrap();
    assert_eq!(&tx[..], b"\x88\x05\x03\xe9bye");
    assert_eq!(p.state(), State::CloseSent);
    assert_eq!(
        p.send(&Message::text("x"), &mut tx),
        Err(UsageError::AlreadyClosed.into())
    );
    // Data still arriving before the peer's close is delivered; the close completes.
    let mut rx = BytesMut::from(&client_frames(&[(0x81, b"late"), (0x88, b"\x03\xe9")])[..]);
    assert_eq!(p.receive(&mut rx), Ok(Some(Message::text("late"))));
    assert!(matches!(
        p.receive(&mut rx),
        Ok(Some(Message::Close(Some(_))))
    ));
    assert_eq!(p.state(), State::Closed);
    assert!(p.is_terminated());
    tx.clear();
    assert!(!p.poll_transmit(&mut tx), "no second close");
}

#[test]
fn sending_invalid_close_or_oversized_control_is_refused() {
    let mut p = Protocol::new(Role::Server, &cfg());
    let mut tx = BytesMut::new();
    assert_eq!(
        p.close(CloseCode::ABNORMAL, "", &mut tx),
        Err(UsageError::InvalidCloseCode.into())
    );
    assert_eq!(
        p.send(&Message::Ping(Bytes::from(vec![0; 126])), &mut tx),
        Err(UsageError::ControlTooLong.into())
    );
    assert!(tx.is_empty());
    assert_eq!(p.state(), State::Open);
}

#[test]
fn client_frames_are_masked_and_decodable_by_a_server() {
    let mut c = Protocol::new(Role::Client, &cfg());
    let mut s = Protocol::new(Role::Server, &cfg());
    let mut wire = BytesMut::new();
    c.send(&Message::binary(vec![1u8; 70_000]), &mut wire)
        .unwrap();
    assert_eq!(wire[1] & 0x80, 0x80);
    assert_eq!(
        s.receive(&mut wire),
        Ok(Some(Message::binary(vec![1u8; 70_000])))
    );
}

#[test]
fn errors_are_terminal() {
    let input = [0x83u8, 0x80, 1, 2, 3, 4];
    let mut p = Protocol::new(Role::Server, &cfg());
    let mut rx = BytesMut::from(&input[..]);
    let e = p.receive(&mut rx).unwrap_err();
    rx.extend_from_slice(&client_frames(&[(0x81, b"ok")]));
    assert_eq!(p.receive(&mut rx), Err(e.clone()));
    assert_eq!(p.send(&Message::text("x"), &mut BytesMut::new()), Err(e));
    assert_eq!(p.state(), State::Failed);
}

#[test]
fn close_timeout_fires_when_peer_never_answers() {
    let c = cfg().with_close_timeout(Duration::from_secs(5));
    let mut p = Protocol::new(Role::Server, &c);
    let t0 = Instant::now();
    p.close(CloseCode::NORMAL, "", &mut BytesMut::new())
        .unwrap();
    p.handle_timeout(t0).unwrap();
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    p.handle_timeout(t0 + Duration::from_secs(4)).unwrap();
    assert_eq!(
        p.handle_timeout(t0 + Duration::from_secs(5)),
        Err(Error::CloseTimeout)
    );
    assert_eq!(p.state(), State::Failed);
}

#[test]
fn a_completed_close_never_times_out() {
    let mut p = Protocol::new(Role::Server, &cfg());
    let t0 = Instant::now();
    p.close(CloseCode::NORMAL, "", &mut BytesMut::new())
        .unwrap();
    p.handle_timeout(t0).unwrap();
    let mut rx = BytesMut::from(&client_frames(&[(0x88, b"\x03\xe8")])[..]);
    assert!(matches!(p.receive(&mut rx), Ok(Some(Message::Close(_)))));
    assert_eq!(p.handle_timeout(t0 + Duration::from_secs(60)), Ok(()));
    assert_eq!(p.state(), State::Closed);
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn keep_alive_pings_when_silent_and_detects_dead_peer() {
    let c = cfg()
        .with_ping_interval(Some(Duration::from_secs(10)))
        .with_pong_timeout(Duration::from_secs(5));
    let mut p = Protocol::new(Role::Server, &c);
    let t0 = Instant::now();
    p.handle_timeout(t0).unwrap();
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    // Traffic postpones the ping.
    let mut rx = BytesMut::from(&client_frames(&[(0x81, b"hi")])[..]);
    assert!(p.receive(&mut rx).unwrap().is_some());
    p.handle_timeout(t0 + Duration::from_secs(9)).unwrap();
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(19)));
    assert!(!p.wants_transmit());
    // Silence: a ping goes out at 19 s.
    p.handle_timeout(t0 + Duration::from_secs(19)).unwrap();
    let mut tx = BytesMut::new();
    assert!(p.poll_transmit(&mut tx));
    assert_eq!(&tx[..], b"\x89\x00");
    // No answer within 5 s: dead.
    p.handle_timeout(t0 + Duration::from_secs(23)).unwrap();
    assert_eq!(
        p.handle_timeout(t0 + Duration::from_secs(24)),
        Err(Error::DeadPeer)
    );
    assert_eq!(Error::DeadPeer.close_code(), None);

    // A pong in time keeps it alive.
    let mut p = Protocol::new(Role::Server, &c);
    p.handle_timeout(t0).unwrap();
    p.handle_timeout(t0 + Duration::from_secs(10)).unwrap();
    assert!(p.wants_transmit());
    let mut rx = BytesMut::from(&client_frames(&[(0x8a, b"")])[..]);
    assert!(matches!(p.receive(&mut rx), Ok(Some(Message::Pong(_)))));
    p.handle_timeout(t0 + Duration::from_secs(14)).unwrap();
    p.handle_timeout(t0 + Duration::from_secs(16)).unwrap();
    assert_eq!(p.state(), State::Open);
}

#[test]
fn abort_queues_policy_close() {
    let mut p = Protocol::new(Role::Server, &cfg());
    assert_eq!(p.abort(Error::Policy), Error::Policy);
    let mut tx = BytesMut::new();
    p.poll_transmit(&mut tx);
    assert_eq!(&tx[..], b"\x88\x02\x03\xf0");
}

/// Every open connection carries its `Protocol`, idle ones included: the close handshake's
/// state, the error and permessage-deflate are boxed until needed and the configuration is
/// shared, so the inline part stays small (760 bytes before; measured on x86_64).
#[test]
fn protocol_stays_small() {
    let size = std::mem::size_of::<Protocol>();
    println!("Protocol: {size} bytes");
    assert!(size <= PROTOCOL_LIMIT, "Protocol is {size} bytes");
}

const PROTOCOL_LIMIT: usize = 256;

/// Boxing the rare state keeps what it reports: the error, the peer's close, our close.
#[test]
fn ending_state_is_reported_after_boxing() {
    let mut p = Protocol::new(Role::Server, &cfg());
    assert_eq!((p.error(), p.peer_close()), (None, None));
    assert!(!p.wants_transmit());
    let mut rx = BytesMut::from(&client_frames(&[(0x88, b"\x03\xe8bye")])[..]);
    assert!(matches!(p.receive(&mut rx), Ok(Some(Message::Close(_)))));
    assert_eq!(
        p.peer_close().cloned(),
        Some(Some(CloseFrame {
            code: CloseCode::NORMAL,
            reason: Utf8Bytes::from("bye"),
        }))
    );
    assert!(p.wants_transmit());
    let mut tx = BytesMut::new();
    assert!(p.poll_transmit(&mut tx));
    assert_eq!(&tx[..], b"\x88\x02\x03\xe8");
    assert!(!p.wants_transmit());
    assert_eq!(p.error(), None);
    // A failure is remembered and returned again.
    let mut p = Protocol::new(Role::Server, &cfg());
    let mut rx = BytesMut::from(&[0x81u8, 0x00][..]); // unmasked
    let e = p.receive(&mut rx).unwrap_err();
    assert_eq!(p.error(), Some(&e));
    assert_eq!(p.receive(&mut rx), Err(e.clone()));
    assert_eq!(p.abort(Error::Policy), e);
}

// ------------------------------------------------------------------ messages in parts

/// Everything `receive_parts(min)` returns for `pieces`, parts joined back into binary
/// messages, with how many messages came in parts, plus what `poll_transmit` produced at the
/// end (as [`run`]).
fn run_parts(
    cfg: &Config,
    min: u64,
    pieces: &[&[u8]],
) -> (Vec<Result<Message, Error>>, usize, Vec<u8>) {
    let mut p = Protocol::new(Role::Server, cfg);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut tx = BytesMut::new();
    let mut open: Option<Vec<u8>> = None;
    let mut in_parts = 0;
    'outer: for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match p.receive_parts(&mut buf, min) {
                Ok(Some(Incoming::Message(m))) => {
                    assert!(open.is_none(), "a message inside a message in parts");
                    out.push(Ok(m));
                }
                Ok(Some(Incoming::Part(part))) => {
                    assert!(part.header.payload_len >= min);
                    let mut data = open.take().unwrap_or_default();
                    assert_eq!(part.offset, data.len() as u64);
                    data.extend_from_slice(&part.data);
                    if part.is_last() {
                        in_parts += 1;
                        out.push(Ok(Message::binary(data)));
                    } else {
                        assert!(buf.is_empty(), "nothing of it is held");
                        open = Some(data);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    break 'outer;
                }
            }
        }
    }
    p.poll_transmit(&mut tx);
    (out, in_parts, tx.to_vec())
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i + seed) * 13 % 251) as u8).collect()
}

#[test]
fn rfc6455_5_4_binary_messages_in_parts_at_every_split() {
    let (a, b, c, d) = (
        pattern(300, 1),
        pattern(10, 2),
        pattern(300, 3),
        pattern(256, 4),
    );
    let text = [b'x'; 256];
    let input = client_frames(&[
        (0x89, b"p"),
        (0x82, &a),     // unfragmented, large: in parts
        (0x01, b"Hel"), // text, fragmented, a ping between its fragments
        (0x89, b"q"),
        (0x80, b"lo"),
        (0x82, &b), // small: whole
        (0x02, &c), // fragmented binary: reassembled whole
        (0x80, &c),
        (0x81, &text), // text: validated, whole
        (0x82, &d),    // exactly the threshold: in parts
        (0x88, b"\x03\xe8"),
    ]);
    let (whole, tx) = run(Role::Server, &cfg(), &[&input]);
    let expect_parts =
        |n: usize, got: (Vec<Result<Message, Error>>, usize, Vec<u8>), what: &str| {
            assert_eq!(got.0, whole, "{what}");
            assert_eq!(got.1, n, "{what}: messages in parts");
            assert_eq!(got.2, tx, "{what}: same answers");
        };
    assert_eq!(whole.len(), 9);
    assert!(matches!(&whole[5], Ok(Message::Binary(m)) if m.len() == 600));
    assert!(matches!(&whole[8], Ok(Message::Close(_))));
    expect_parts(2, run_parts(&cfg(), 256, &[&input]), "whole");
    expect_parts(0, run_parts(&cfg(), u64::MAX, &[&input]), "no parts");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    expect_parts(2, run_parts(&cfg(), 256, &bytes), "byte by byte");
    for i in 0..=input.len() {
        let (x, y) = input.split_at(i);
        expect_parts(2, run_parts(&cfg(), 256, &[x, y]), &format!("split at {i}"));
    }
}

#[test]
fn rfc6455_5_4_binary_frame_inside_a_fragmented_message_is_still_1002() {
    let big = pattern(300, 0);
    let input = client_frames(&[(0x01, b"a"), (0x82, &big)]);
    let (got, n, tx) = run_parts(&cfg(), 1, &[&input]);
    assert_eq!(got, vec![Err(ProtocolError::ExpectedContinuation.into())]);
    assert_eq!((n, &tx[..]), (0, &b"\x88\x02\x03\xea"[..]));
}

#[test]
fn limits_hold_for_messages_in_parts() {
    // max_frame (1009) on the header, before any part.
    let c = cfg().with_max_frame(1000);
    let input = client_frames(&[(0x82, &pattern(1001, 0))]);
    let (got, n, tx) = run_parts(&c, 1, &[&input[..20]]);
    assert_eq!(got, vec![Err(CapacityError::FrameTooBig.into())]);
    assert_eq!((n, &tx[..]), (0, &b"\x88\x02\x03\xf1"[..]));
    // max_message too, should it be set below max_frame.
    let mut c = cfg();
    c.max_frame = 1000;
    c.max_message = 500;
    let input = client_frames(&[(0x82, &pattern(600, 0))]);
    let (got, n, _) = run_parts(&c, 1, &[&input[..20]]);
    assert_eq!(got, vec![Err(CapacityError::MessageTooBig.into())]);
    assert_eq!(n, 0);
}

#[test]
fn a_message_in_parts_cannot_be_finished_by_receive() {
    let mut p = Protocol::new(Role::Server, &cfg());
    let input = client_frames(&[(0x82, &pattern(300, 0))]);
    let mut buf = BytesMut::from(&input[..100]);
    assert!(matches!(
        p.receive_parts(&mut buf, 1),
        Ok(Some(Incoming::Part(_)))
    ));
    buf.extend_from_slice(&input[100..]);
    let e = Error::from(UsageError::FrameInParts);
    assert_eq!(p.receive(&mut buf), Err(e.clone()));
    assert_eq!(p.state(), State::Failed);
    assert_eq!(p.receive_parts(&mut buf, 1), Err(e));
}

#[test]
fn rfc6455_5_4_nothing_of_ours_goes_out_inside_a_frame_sent_in_parts() {
    let mut c = cfg();
    c.ping_interval = Some(Duration::from_secs(1));
    let mut p = Protocol::new(Role::Server, &c);
    let t0 = Instant::now();
    let mut rx = BytesMut::from(&client_frames(&[(0x89, b"a")])[..]);
    assert!(matches!(p.receive(&mut rx), Ok(Some(Message::Ping(_)))));
    p.handle_timeout(t0).unwrap();
    let mut tx = BytesMut::new();
    // The pong queued before goes first, then the header.
    p.start_frame(OpCode::Binary, 6, &mut tx).unwrap();
    assert_eq!(&tx[..], b"\x8a\x01a\x82\x06");
    assert!(p.is_sending_parts());
    // A ping's pong and a keep-alive ping owed now wait, as does a message.
    let mut rx = BytesMut::from(&client_frames(&[(0x89, b"b")])[..]);
    assert!(matches!(p.receive(&mut rx), Ok(Some(Message::Ping(_)))));
    p.handle_timeout(t0 + Duration::from_millis(10)).unwrap();
    p.handle_timeout(t0 + Duration::from_secs(2)).unwrap();
    let mut late = BytesMut::new();
    assert!(!p.wants_transmit());
    assert!(!p.poll_transmit(&mut late));
    let busy = Err(Error::from(UsageError::FrameInParts));
    assert_eq!(p.send(&Message::text("x"), &mut late), busy);
    assert_eq!(p.start_frame(OpCode::Binary, 1, &mut late), busy);
    let shared = SharedFrame::new(OpCode::Text, b"x").unwrap();
    assert_eq!(p.check_shared(&shared), busy);
    assert!(late.is_empty());
    p.send_part(&mut [1, 2, 3]).unwrap();
    assert_eq!(p.send_part(&mut [4, 5, 6, 7]), busy, "past the frame's end");
    p.send_part(&mut [4, 5, 6]).unwrap();
    assert!(!p.is_sending_parts());
    assert!(p.wants_transmit());
    assert!(p.poll_transmit(&mut late));
    assert_eq!(&late[..], b"\x8a\x01b\x89\x00");
    assert_eq!(p.send_part(&mut [8]), busy, "no frame in parts");
}

#[test]
fn close_inside_a_frame_sent_in_parts_follows_its_last_part() {
    let mut p = Protocol::new(Role::Server, &cfg());
    let mut tx = BytesMut::new();
    p.start_frame(OpCode::Binary, 2, &mut tx).unwrap();
    p.close(CloseCode::NORMAL, "bye", &mut tx).unwrap();
    assert_eq!(&tx[..], b"\x82\x02");
    assert_eq!(p.state(), State::CloseSent);
    assert_eq!(
        p.send(&Message::text("x"), &mut tx),
        Err(UsageError::FrameInParts.into())
    );
    p.send_part(&mut [1, 2]).unwrap();
    p.poll_transmit(&mut tx);
    assert_eq!(&tx[..], b"\x82\x02\x88\x05\x03\xe8bye");
    assert_eq!(
        p.send(&Message::text("x"), &mut tx),
        Err(UsageError::AlreadyClosed.into())
    );
    // A close that may not be sent is refused, as `close` always did.
    let mut p = Protocol::new(Role::Server, &cfg());
    p.start_frame(OpCode::Binary, 2, &mut tx).unwrap();
    assert!(p.close(CloseCode::from(1005), "", &mut tx).is_err());
    assert_eq!(p.state(), State::Open);
}

#[test]
fn start_frame_takes_data_opcodes_only_and_empty_frames_finish_at_once() {
    let mut p = Protocol::new(Role::Server, &cfg());
    let mut tx = BytesMut::new();
    assert_eq!(
        p.start_frame(OpCode::Ping, 1, &mut tx),
        Err(UsageError::FrameInParts.into())
    );
    p.start_frame(OpCode::Text, 0, &mut tx).unwrap();
    assert!(!p.is_sending_parts());
    assert_eq!(&tx[..], b"\x81\x00");
    // The one empty part `receive_parts` hands out for an empty frame can be forwarded;
    // a byte more than the frame announced cannot.
    p.send_part(&mut []).unwrap();
    assert_eq!(p.send_part(&mut [0]), Err(UsageError::FrameInParts.into()));
    // After our close nothing may start.
    p.close(CloseCode::NORMAL, "", &mut tx).unwrap();
    assert_eq!(
        p.start_frame(OpCode::Binary, 1, &mut tx),
        Err(UsageError::AlreadyClosed.into())
    );
}

/// A client's parts are masked in place with the frame's key, at its phase: a server
/// decodes the frame whatever the part sizes.
#[test]
fn rfc6455_5_3_client_parts_are_masked_in_place() {
    let payload = pattern(1000, 7);
    for sizes in [&[1000][..], &[1, 2, 5, 292, 700], &[3; 333][..]] {
        let mut client = Protocol::new(Role::Client, &cfg());
        let mut wire = BytesMut::new();
        client.start_frame(OpCode::Binary, 1000, &mut wire).unwrap();
        let mut at = 0;
        let rest = 1000 - sizes.iter().sum::<usize>();
        for &n in sizes.iter().chain([rest].iter().filter(|&&r| r > 0)) {
            let mut part = payload[at..at + n].to_vec();
            client.send_part(&mut part).unwrap();
            wire.extend_from_slice(&part);
            at += n;
        }
        assert!(!client.is_sending_parts());
        let mut server = Protocol::new(Role::Server, &cfg());
        assert_eq!(
            server.receive(&mut wire),
            Ok(Some(Message::binary(payload.clone())))
        );
    }
}

/// The echo the server's `/echo` does: parts received are sent on as they come, and the
/// client gets the message intact, with the pong of a ping that followed it after it.
#[test]
fn echo_in_parts_round_trip() {
    let big = pattern(70_000, 9);
    let input = client_frames(&[(0x82, &big), (0x89, b"z")]);
    for step in [1usize, 7, 4096, 70_000, 80_000] {
        let mut server = Protocol::new(Role::Server, &cfg());
        let mut rx = BytesMut::new();
        let mut wire = BytesMut::new();
        for piece in input.chunks(step) {
            rx.extend_from_slice(piece);
            while let Some(i) = server.receive_parts(&mut rx, 65_536).unwrap() {
                match i {
                    Incoming::Part(mut p) => {
                        if p.is_first() {
                            server
                                .start_frame(OpCode::Binary, p.header.payload_len, &mut wire)
                                .unwrap();
                        }
                        server.send_part(&mut p.data).unwrap();
                        wire.extend_from_slice(&p.data);
                    }
                    Incoming::Message(_) => {
                        server.poll_transmit(&mut wire);
                    }
                }
            }
        }
        let mut client = Protocol::new(Role::Client, &cfg());
        assert_eq!(
            client.receive(&mut wire),
            Ok(Some(Message::binary(big.clone())))
        );
        assert_eq!(
            client.receive(&mut wire),
            Ok(Some(Message::Pong(Bytes::from_static(b"z"))))
        );
    }
}
