//! Arbitrary bytes through pushwire-ws's frame codec (`FrameDecoder`) and sans-IO
//! connection (`Protocol::receive`, `poll_transmit`) in the **server** role, with small
//! `max_frame` / `max_message` (config bytes 0 and 1) so the limit paths are reached.
//!
//! Asserts (see `pushwire_fuzz::ws_frame_target`):
//! - frames, messages and the answers the connection queues (pong, close echo, failure
//!   close) are identical fed whole, at fuzzer-chosen cuts and byte by byte;
//! - the same through `Protocol::receive_parts` (config byte 2: the size from which a
//!   one-frame binary message is handed out in parts), the parts consecutive and put back
//!   together into the same messages, whole, split and byte by byte;
//! - frames respect the role's masking, `max_frame` and the control frame rules; text is
//!   UTF-8; no message exceeds `max_message`; errors are terminal and carry a close code;
//! - messages and the outcome (need more, or fail with 1002 / 1007 / 1009) equal those of an
//!   independent whole-input reading of RFC 6455 §5 and §7.4 (`pushwire_fuzz::ws_reference`);
//! - a failure queues a close frame with its code, a peer close is echoed with its code,
//!   otherwise the last ping is answered by one pong with its payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushwire_ws::frame::Role;

fuzz_target!(|raw: &[u8]| pushwire_fuzz::ws_frame_target(raw, Role::Server));
