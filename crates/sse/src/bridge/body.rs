//! Serving events as an `http_body::Body` (feature `http-body`): axum, hyper, tower.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http_body::Frame;

use crate::{Event, RESPONSE_HEADERS, keep_alive};

/// The keep-alive interval [`SseBody`] uses unless told otherwise: a comment line after
/// 15 s without an event (SSE-RULES 49), well under the 30-120 s idle timeouts of common
/// proxies and load balancers.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Bytes of encoded events gathered into one body frame when several are ready at once:
/// fewer, larger writes under load without holding a burst back (what is ready is sent).
const MAX_BATCH: usize = 64 * 1024;

/// A stream of [`Event`]s as an `http_body::Body`: each event encoded with
/// [`Event::encode`], events that are ready together gathered into one frame (up to 64 KiB),
/// and a keep-alive comment (`":\n"`) after each quiet interval. The body ends when the
/// stream does. Needs a tokio runtime (for the keep-alive timer).
///
/// Use [`response`] for the whole response with the event-stream headers; with axum the
/// `http::Response<SseBody<S>>` it returns is a handler's return value as is.
pub struct SseBody<S> {
    events: Pin<Box<S>>,
    keep_alive: Option<Duration>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    done: bool,
}

impl<S> SseBody<S> {
    /// A body over `events`, with keep-alives every [`DEFAULT_KEEP_ALIVE`].
    pub fn new(events: S) -> Self {
        SseBody {
            events: Box::pin(events),
            keep_alive: Some(DEFAULT_KEEP_ALIVE),
            timer: None,
            done: false,
        }
    }

    /// Sets the keep-alive interval; `None` sends none.
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.keep_alive = every;
        self.timer = None;
        self
    }
}

impl<S> std::fmt::Debug for SseBody<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseBody")
            .field("keep_alive", &self.keep_alive)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<S: Stream<Item = Event>> http_body::Body for SseBody<S> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let mut batch = BytesMut::new();
        loop {
            match this.events.as_mut().poll_next(cx) {
                Poll::Ready(Some(ev)) => {
                    ev.encode(&mut batch);
                    if batch.len() >= MAX_BATCH {
                        break;
                    }
                }
                Poll::Ready(None) => {
                    this.done = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        if !batch.is_empty() {
            // Data went out: the quiet interval starts again.
            this.timer = None;
            return Poll::Ready(Some(Ok(Frame::data(batch.freeze()))));
        }
        if this.done {
            return Poll::Ready(None);
        }
        let Some(every) = this.keep_alive else {
            return Poll::Pending;
        };
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timer = None;
                Poll::Ready(Some(Ok(Frame::data(keep_alive()))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// A `200` event-stream response over `events`: the [`RESPONSE_HEADERS`]
/// (`Content-Type: text/event-stream`, `Cache-Control: no-store`, `X-Accel-Buffering: no`)
/// and an [`SseBody`] with keep-alives every [`DEFAULT_KEEP_ALIVE`]. Return it from an axum
/// handler, or box it for hyper.
///
/// ```
/// use pushwire_sse::{Event, bridge::response};
/// let res = response(futures::stream::iter([Event::new("hello")]));
/// assert_eq!(res.headers()["content-type"], "text/event-stream");
/// ```
pub fn response<S: Stream<Item = Event>>(events: S) -> http::Response<SseBody<S>> {
    let mut res = http::Response::new(SseBody::new(events));
    for (name, value) in RESPONSE_HEADERS {
        res.headers_mut()
            .insert(name, http::HeaderValue::from_static(value));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    async fn next_frame<S: Stream<Item = Event>>(body: &mut SseBody<S>) -> Option<Bytes> {
        std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx))
            .await
            .map(|f| f.unwrap().into_data().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn ready_events_share_a_frame_and_quiet_time_sends_keep_alives() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let events =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
        let mut body = SseBody::new(events).keep_alive(Some(Duration::from_secs(5)));
        tx.send(Event::new("a")).unwrap();
        tx.send(Event::new("b")).unwrap();
        assert_eq!(
            next_frame(&mut body).await.unwrap(),
            "data: a\n\ndata: b\n\n"
        );
        // Nothing for 5 s (paused clock advances by itself): one keep-alive.
        assert_eq!(next_frame(&mut body).await.unwrap(), ":\n");
        tx.send(Event::new("c")).unwrap();
        assert_eq!(next_frame(&mut body).await.unwrap(), "data: c\n\n");
        drop(tx);
        assert_eq!(next_frame(&mut body).await, None);
        assert!(body.is_end_stream());
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alive_none_sends_nothing_while_quiet() {
        let mut body = SseBody::new(futures::stream::pending::<Event>()).keep_alive(None);
        let r = tokio::time::timeout(Duration::from_secs(3600), next_frame(&mut body)).await;
        assert!(r.is_err(), "no frame expected");
    }

    #[test]
    fn response_carries_the_event_stream_headers() {
        let res = response(futures::stream::empty::<Event>());
        assert_eq!(res.status(), 200);
        for (name, value) in RESPONSE_HEADERS {
            assert_eq!(res.headers()[name], value);
        }
    }
}
