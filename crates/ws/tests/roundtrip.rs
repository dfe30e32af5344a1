//! Property tests: any sequence of messages a client sends (fragmented by hand or not, with
//! control frames interleaved) reaches the server unchanged however TCP splits the bytes; and
//! no byte string makes the decoder panic or disagree with itself across splits.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use pushwire_ws::frame::{FrameHeader, OpCode, Role, encode_frame};
use pushwire_ws::{Config, Message, Protocol};

#[derive(Debug, Clone)]
enum Op {
    Text(String, usize),
    Binary(Vec<u8>, usize),
    Ping(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<String>(), 1usize..4).prop_map(|(s, n)| Op::Text(s, n)),
        (proptest::collection::vec(any::<u8>(), 0..300), 1usize..4)
            .prop_map(|(b, n)| Op::Binary(b, n)),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(Op::Ping),
    ]
}

/// Encodes `op` as a client would, in `n` fragments cut at arbitrary byte positions (so
/// text fragments may split code points).
fn encode(op: &Op, wire: &mut BytesMut) -> Message {
    let (first, data, n, msg) = match op {
        Op::Ping(p) => {
            let mut c = Protocol::new(Role::Client, &Config::default());
            let m = Message::Ping(Bytes::from(p.clone()));
            c.send(&m, wire).unwrap();
            return m;
        }
        Op::Text(s, n) => (
            OpCode::Text,
            s.as_bytes().to_vec(),
            *n,
            Message::text(s.as_str()),
        ),
        Op::Binary(b, n) => (OpCode::Binary, b.clone(), *n, Message::binary(b.clone())),
    };
    let step = data.len().div_ceil(n).max(1);
    let pieces: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(step).collect()
    };
    for (i, piece) in pieces.iter().enumerate() {
        let mut h = FrameHeader::new(if i == 0 { first } else { OpCode::Continuation }, 0);
        h.fin = i + 1 == pieces.len();
        h.mask = Some([i as u8, 0x5a, 0xa5, 7]);
        encode_frame(&h, piece, wire);
    }
    msg
}

fn receive_all(wire: &[u8], cuts: &[usize]) -> Vec<Message> {
    let mut p = Protocol::new(Role::Server, &Config::default());
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.sort_unstable();
    points.push(wire.len());
    for end in points {
        buf.extend_from_slice(&wire[at..end.max(at)]);
        at = end.max(at);
        while let Some(m) = p.receive(&mut buf).unwrap() {
            out.push(m);
        }
    }
    out
}

proptest! {
    #[test]
    fn messages_survive_any_split(ops in proptest::collection::vec(op(), 0..12),
                                  cuts in proptest::collection::vec(any::<usize>(), 0..20)) {
        let mut wire = BytesMut::new();
        let sent: Vec<Message> = ops.iter().map(|o| encode(o, &mut wire)).collect();
        prop_assert_eq!(receive_all(&wire, &cuts), sent);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_splits_agree(data in proptest::collection::vec(any::<u8>(), 0..400),
                                                    cut in any::<usize>()) {
        let run = |pieces: &[&[u8]]| {
            let cfg = Config::default().with_max_frame(200).with_max_message(300);
            let mut p = Protocol::new(Role::Server, &cfg);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for piece in pieces {
                buf.extend_from_slice(piece);
                loop {
                    match p.receive(&mut buf) {
                        Ok(Some(m)) => out.push(Ok(m)),
                        Ok(None) => break,
                        Err(e) => { out.push(Err(e)); return out; }
                    }
                }
            }
            out
        };
        let whole = run(&[&data]);
        let (a, b) = data.split_at(cut % (data.len() + 1));
        let split = run(&[a, b]);
        // The same bytes give the same messages and the same error, however they arrive.
        prop_assert_eq!(whole, split);
    }
}
