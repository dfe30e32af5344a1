//! Arbitrary client frames through a **server**-role `Protocol` with permessage-deflate
//! (RFC 7692, feature `deflate`) switched on by `set_deflate`, with parameters picked by
//! config bytes 1 and 2, `max_message` 64 KiB and a small `max_frame` (config byte 0).
//!
//! Asserts:
//! - the transcript (messages, the error and its close code, and the answers the connection
//!   queues: pong, close echo, failure close) is identical fed whole, at fuzzer-chosen cuts
//!   and byte by byte;
//! - no message, inflated or not, exceeds `max_message` (a compression bomb ends in 1009);
//!   text is UTF-8; control payloads are at most 125 bytes;
//! - errors are terminal and carry a close code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushwire_fuzz::{BYTEWISE_MAX, Input, small_limit, ws_transcript};
use pushwire_ws::Config;
use pushwire_ws::deflate::DeflateParams;
use pushwire_ws::frame::Role;

/// The product's default `max_message` is 64 MiB; 64 KiB keeps bombs cheap.
const MAX_MESSAGE: usize = 64 << 10;

fuzz_target!(|raw: &[u8]| {
    let input = Input::parse(raw);
    let max_frame = small_limit(input.cfg[0], 4096, 1, 1024);
    let cfg = Config::default()
        .with_max_frame(max_frame)
        .with_max_message(MAX_MESSAGE);
    let (b1, b2) = (input.cfg[1], input.cfg[2]);
    let params = DeflateParams {
        server_no_context_takeover: b1 & 1 == 0,
        client_no_context_takeover: b1 & 2 == 0,
        server_max_window_bits: 15 - (b2 & 7),
        client_max_window_bits: 15 - (b2 >> 3 & 7),
    };
    let data = input.data;

    let run = |pieces: Vec<&[u8]>| {
        let (out, sent) = ws_transcript(Role::Server, &cfg, Some(params), MAX_MESSAGE, pieces);
        if let Some(Err(e)) = out.last() {
            assert!(e.close_code().is_some(), "{e:?} has no close code");
        }
        (out, sent)
    };
    let whole = run(vec![data]);
    assert_eq!(
        whole,
        run(input.pieces()),
        "whole vs split at {:?} ({params:?})",
        input.cuts
    );
    if data.len() <= BYTEWISE_MAX {
        assert_eq!(
            whole,
            run(data.chunks(1).collect()),
            "whole vs byte by byte ({params:?})"
        );
    }
});
