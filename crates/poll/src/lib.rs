//! Short and long polling: a sequence-numbered message log with epoch cursors and cheap
//! waiters.
//!
//! - [`Id`], [`Epoch`], [`Cursor`] (`cursor`): the `EPOCH-SEQ` ids and the cursor rules of
//!   DESIGN.md, as a pure function ([`Cursor::plan`]) any store can reuse.
//! - [`Log`] (`log`): one topic's retained history, bounded by count and bytes; `append`
//!   and `read_after`, producing a [`Batch`].
//! - [`Topic`] (`wait`): a log shared between tasks, with `wait_after` for long polls.
//! - [`json`]: the response bodies, hand-written.
//! - [`request`]: `GET /poll` / `GET /long-poll` on pushwire-http types; [`Cors`] for
//!   credentialed cross-origin polling.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use bytes::{Bytes, BytesMut};
//! use pushwire_poll::{json, Config, Cursor, Topic};
//! use tokio::time::Instant;
//!
//! let topic = Topic::new(&Config::default());
//! topic.append(Bytes::from_static(b"hello"));
//! // A client polls from the oldest retained message (`since=0`).
//! let since = Cursor::parse(Some("0")).unwrap();
//! let batch = topic.wait_after(&since, 100, Instant::now() + Duration::from_secs(25)).await;
//! let mut body = BytesMut::new();
//! json::encode_batch(&batch, &mut body);
//! let next = batch.next.to_string(); // what the client sends as `since` next time
//! assert!(body.starts_with(b"{\"messages\":[{\"id\":\""));
//! assert!(next.ends_with("-1"));
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod cors;
pub mod cursor;
pub mod error;
pub mod json;
pub mod log;
pub mod request;
pub mod wait;

pub use config::Config;
pub use cors::{Cors, CorsAllowed};
pub use cursor::{Cursor, Epoch, Id, ReadPlan, Retained};
pub use error::{CursorError, Error, QueryError};
pub use log::{Batch, Inserted, Log, Message};
pub use request::{JsonResponse, PollKind, PollRequest};
pub use wait::Topic;
