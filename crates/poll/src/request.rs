//! Transport-agnostic handling of `GET /poll` and `GET /long-poll` on pushwire-http types.
//!
//! Three steps, the first and last pure:
//! 1. [`PollRequest::parse`] reads and validates the query (`topic`, `since`, `timeout`,
//!    `max`); a bad value is an [`Error`] with status 400, answered by [`error_response`].
//! 2. [`PollRequest::answer`] reads (short poll) or waits on (long poll) a [`Topic`]. A hub
//!    that is not a `Topic` (Redis) does the same with its own store and [`PollRequest`]'s
//!    fields.
//! 3. [`batch_response`] builds the `200` head and JSON body.
//!
//! The caller (a server, or the `bare_polling` example) owns the socket, the routing,
//! `Connection` handling and CORS ([`Cors`](crate::Cors)).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pushwire_http::{Request, ResponseHead};
use tokio::time::Instant;

use crate::config::Config;
use crate::cursor::{Cursor, Id};
use crate::error::{Error, QueryError};
use crate::json;
use crate::log::Batch;
use crate::wait::Topic;

/// Longest topic name, in bytes (DESIGN.md: `[A-Za-z0-9_.:-]{1,128}`).
pub const MAX_TOPIC_LEN: usize = 128;

/// The topic used when a request names none.
pub const DEFAULT_TOPIC: &str = "default";

/// Checks a topic name against `[A-Za-z0-9_.:-]{1,128}`.
///
/// ```
/// use pushwire_poll::request::validate_topic;
/// assert!(validate_topic("chat.room-1:a_b").is_ok());
/// assert!(validate_topic("").is_err());
/// assert!(validate_topic("a b").is_err());
/// assert!(validate_topic(&"x".repeat(129)).is_err());
/// ```
pub fn validate_topic(name: &str) -> Result<(), QueryError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_TOPIC_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok { Ok(()) } else { Err(QueryError::Topic) }
}

/// Which polling endpoint a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollKind {
    /// `GET /poll`: answered at once, news or not. `timeout` is ignored.
    Short,
    /// `GET /long-poll`: held until news or the timeout.
    Long,
}

/// A validated poll request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollRequest {
    /// Short or long poll.
    pub kind: PollKind,
    /// The topic (`topic`, default [`DEFAULT_TOPIC`]), already validated.
    pub topic: String,
    /// Where to resume (`since`).
    pub cursor: Cursor,
    /// How long a long poll may be held: `timeout` in milliseconds, default
    /// [`Config::default_timeout`], clamped to [`Config::max_timeout`]. Zero for short polls.
    pub timeout: Duration,
    /// Most messages to return: `max`, default and upper bound [`Config::max_batch`].
    pub max: usize,
}

impl PollRequest {
    /// Reads the query of `req`.
    ///
    /// Errors (all 400): topic not `[A-Za-z0-9_.:-]{1,128}`; malformed `since` (see
    /// [`Cursor::parse`]); `timeout` (long polls only) not a decimal number of milliseconds;
    /// `max` not a decimal number of at least 1. Numbers too large for their type are
    /// clamped, not refused: they only ask for "as much as allowed".
    ///
    /// ```
    /// use pushwire_http::{Method, Request};
    /// use pushwire_poll::{request::{PollKind, PollRequest}, Config, Cursor};
    /// let req = Request::new(Method::Get, "/long-poll?topic=news&since=0&timeout=999999");
    /// let p = PollRequest::parse(&req, PollKind::Long, &Config::default()).unwrap();
    /// assert_eq!(p.topic, "news");
    /// assert_eq!(p.cursor, Cursor::Oldest);
    /// assert_eq!(p.timeout.as_millis(), 120_000);
    /// let bad = Request::new(Method::Get, "/long-poll?timeout=soon");
    /// assert_eq!(PollRequest::parse(&bad, PollKind::Long, &Config::default()).unwrap_err().status(), 400);
    /// ```
    pub fn parse(req: &Request, kind: PollKind, cfg: &Config) -> Result<PollRequest, Error> {
        let topic = match req.query_param("topic") {
            Some(t) => {
                validate_topic(&t)?;
                t.into_owned()
            }
            None => DEFAULT_TOPIC.to_owned(),
        };
        let cursor = Cursor::parse(req.query_param("since").as_deref())?;
        let timeout = match kind {
            PollKind::Short => Duration::ZERO,
            PollKind::Long => match req.query_param("timeout") {
                None => cfg.default_timeout,
                Some(ms) => {
                    let ms = parse_decimal(&ms).ok_or(QueryError::Timeout)?;
                    Duration::from_millis(ms).min(cfg.max_timeout)
                }
            },
        };
        let max = match req.query_param("max") {
            None => cfg.max_batch,
            Some(m) => match parse_decimal(&m) {
                Some(0) | None => return Err(QueryError::Max.into()),
                Some(n) => usize::try_from(n).unwrap_or(usize::MAX).min(cfg.max_batch),
            },
        };
        Ok(PollRequest {
            kind,
            topic,
            cursor,
            timeout,
            max: max.max(1),
        })
    }

    /// When a long poll started at `now` must be answered.
    pub fn deadline(&self, now: Instant) -> Instant {
        now + self.timeout
    }

    /// Answers from an in-memory topic: at once for a short poll (or when messages after the
    /// cursor exist), else when one is appended or the timeout passes.
    pub async fn answer(&self, topic: &Topic) -> Batch {
        match self.kind {
            PollKind::Short => topic.read_after(&self.cursor, self.max),
            PollKind::Long => {
                let deadline = self.deadline(Instant::now());
                topic.wait_after(&self.cursor, self.max, deadline).await
            }
        }
    }
}

/// A decimal number of 1 or more ASCII digits, saturating at `u64::MAX`. No sign, no
/// spaces, no fraction.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// A response to send: head (with `Content-Length`) and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonResponse {
    /// Status line and headers: `Content-Type: application/json`, `Cache-Control:
    /// no-store`, `Content-Length`. Add `Connection` and CORS headers before sending.
    pub head: ResponseHead,
    /// The JSON body.
    pub body: Bytes,
}

impl JsonResponse {
    fn new(status: u16, body: BytesMut) -> JsonResponse {
        let mut head = ResponseHead::new(status);
        // Constant names and values (and a decimal length) are always valid header
        // fields, so these appends cannot fail; ignoring the `Result` keeps the
        // function total.
        let _ = head.headers.append("Content-Type", "application/json");
        // Poll answers change with every publish: no cache may replay one.
        let _ = head.headers.append("Cache-Control", "no-store");
        let mut len = Vec::with_capacity(20);
        crate::cursor::push_decimal(body.len() as u64, &mut len);
        let _ = head.headers.append("Content-Length", len);
        JsonResponse {
            head,
            body: body.freeze(),
        }
    }

    /// Writes head and body into `dst` (one buffer, so one write puts both on the wire).
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), pushwire_http::Error> {
        pushwire_http::encode_response_head(&self.head, dst)?;
        dst.extend_from_slice(&self.body);
        Ok(())
    }
}

/// `200` with `{"messages":[...],"next":"E-N","missed":...}`.
pub fn batch_response(batch: &Batch) -> JsonResponse {
    let mut body = BytesMut::new();
    json::encode_batch(batch, &mut body);
    JsonResponse::new(200, body)
}

/// `200` with `{"id":"E-N"}`, the answer to a publish.
pub fn published_response(id: &Id) -> JsonResponse {
    let mut body = BytesMut::new();
    json::encode_published(id, &mut body);
    JsonResponse::new(200, body)
}

/// The error's status with `{"error":"<its Display>"}`.
pub fn error_response(err: &Error) -> JsonResponse {
    status_response(err.status(), &err.to_string())
}

/// Any status with `{"error":"<message>"}` (404, 405, 413 ... for callers that answer
/// those themselves). `message` should be a fixed phrase, never the client's input.
pub fn status_response(status: u16, message: &str) -> JsonResponse {
    let mut body = BytesMut::new();
    json::encode_error(message, &mut body);
    JsonResponse::new(status, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CursorError;
    use pushwire_http::Method;

    fn parse(target: &str, kind: PollKind) -> Result<PollRequest, Error> {
        PollRequest::parse(&Request::new(Method::Get, target), kind, &Config::default())
    }

    #[test]
    fn defaults() {
        let p = parse("/long-poll", PollKind::Long).unwrap();
        assert_eq!(p.topic, "default");
        assert_eq!(p.cursor, Cursor::Now);
        assert_eq!(p.timeout, Duration::from_millis(25_000));
        assert_eq!(p.max, 1024);
        let p = parse("/poll?timeout=nonsense", PollKind::Short).unwrap();
        assert_eq!(p.timeout, Duration::ZERO);
    }

    #[test]
    fn timeout_rules() {
        let t = |q: &str| parse(&format!("/long-poll?timeout={q}"), PollKind::Long);
        assert_eq!(t("0").unwrap().timeout, Duration::ZERO);
        assert_eq!(t("1500").unwrap().timeout, Duration::from_millis(1500));
        assert_eq!(t("120000").unwrap().timeout, Duration::from_millis(120_000));
        assert_eq!(t("120001").unwrap().timeout, Duration::from_millis(120_000));
        assert_eq!(
            t("99999999999999999999999999").unwrap().timeout,
            Duration::from_millis(120_000)
        );
        for bad in ["", "-1", "1.5", "abc", "1e3", "+5", "%20", " 5", "0x10"] {
            assert_eq!(
                t(bad),
                Err(Error::Query(QueryError::Timeout)),
                "timeout={bad}"
            );
        }
    }

    #[test]
    fn max_rules() {
        let m = |q: &str| parse(&format!("/poll?max={q}"), PollKind::Short);
        assert_eq!(m("1").unwrap().max, 1);
        assert_eq!(m("50").unwrap().max, 50);
        assert_eq!(m("5000").unwrap().max, 1024);
        for bad in ["0", "", "-2", "x"] {
            assert_eq!(m(bad), Err(Error::Query(QueryError::Max)), "max={bad}");
        }
    }

    #[test]
    fn topic_rules() {
        assert_eq!(
            parse("/poll?topic=a.b:c-d_e", PollKind::Short)
                .unwrap()
                .topic,
            "a.b:c-d_e"
        );
        // Percent-encoded allowed characters decode to a valid name.
        assert_eq!(
            parse("/poll?topic=a%2Eb", PollKind::Short).unwrap().topic,
            "a.b"
        );
        let long = "t".repeat(128);
        assert!(parse(&format!("/poll?topic={long}"), PollKind::Short).is_ok());
        for bad in [
            "",
            "a+b",
            "a%20b",
            "a/b",
            "%C3%A9",
            "a%00",
            &"t".repeat(129),
        ] {
            assert_eq!(
                parse(&format!("/poll?topic={bad}"), PollKind::Short),
                Err(Error::Query(QueryError::Topic)),
                "topic={bad}"
            );
        }
    }

    #[test]
    fn cursor_errors_are_400() {
        for bad in ["", "abc", "e-", "-5", "e-1+2", "e-x"] {
            let e = parse(&format!("/poll?since={bad}"), PollKind::Short).unwrap_err();
            assert!(matches!(e, Error::Cursor(_)), "since={bad}");
            assert_eq!(e.status(), 400);
        }
        assert_eq!(
            parse("/poll?since=", PollKind::Short),
            Err(Error::Cursor(CursorError::Empty))
        );
    }

    #[test]
    fn responses_have_the_contract_headers_and_parse_as_json() {
        let topic = Topic::new(&Config::default());
        topic.append(Bytes::from_static("line1\nline2 \"q\" \u{2028}".as_bytes()));
        let batch = topic.read_after(&Cursor::Oldest, 10);
        let r = batch_response(&batch);
        assert_eq!(r.head.status, 200);
        assert_eq!(
            r.head.headers.get("content-type"),
            Some(&b"application/json"[..])
        );
        assert_eq!(r.head.headers.get("cache-control"), Some(&b"no-store"[..]));
        assert_eq!(
            r.head.headers.get_str("content-length"),
            Some(r.body.len().to_string().as_str())
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["messages"][0]["data"], "line1\nline2 \"q\" \u{2028}");
        assert_eq!(v["next"], batch.next.to_string());

        let e = error_response(&Error::Query(QueryError::Timeout));
        assert_eq!(e.head.status, 400);
        let v: serde_json::Value = serde_json::from_slice(&e.body).unwrap();
        assert_eq!(v["error"], QueryError::Timeout.to_string());

        let p = published_response(&batch.next);
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["id"], batch.next.to_string());

        let mut out = BytesMut::new();
        r.encode(&mut out).unwrap();
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(out.ends_with(&r.body));
    }

    #[tokio::test(start_paused = true)]
    async fn answer_short_is_immediate_and_long_times_out_empty() {
        let topic = Topic::new(&Config::default());
        let p = parse("/poll?since=0", PollKind::Short).unwrap();
        let b = p.answer(&topic).await;
        assert!(b.messages.is_empty());
        let p = parse("/long-poll?since=0&timeout=3000", PollKind::Long).unwrap();
        let start = Instant::now();
        let b = p.answer(&topic).await;
        assert!(b.messages.is_empty());
        assert_eq!(b.next, topic.head());
        assert_eq!(Instant::now() - start, Duration::from_millis(3000));
    }
}
