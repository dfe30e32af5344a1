//! The hub: topics, their retained history, and fan-out to subscribers.
//!
//! Transports never touch a log directly; they talk to a [`Hub`], so a cross-process backplane
//! (Redis) can replace [`MemoryHub`] without changing them. The trait is object-safe (the
//! binary picks the hub at run time) and every call can fail: a remote hub that cannot store a
//! publish answers [`HubError::Unavailable`], which the HTTP layer turns into `503` with
//! `Retry-After`.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use crate::cursor::{Cursor, Epoch, Id, Retained};

/// The boxed future every [`Hub`] method returns (object-safe without an extra crate).
pub type HubFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HubError>> + Send + 'a>>;

/// Why the hub could not serve a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The backend cannot store or read right now (answered `503` + `Retry-After`).
    #[error("hub backend unavailable")]
    Unavailable,
    /// The topic limit is reached and no idle topic can be dropped (answered `503`).
    #[error("too many topics")]
    TooManyTopics,
}

/// Whether a payload is sent as text or binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Valid UTF-8: a WebSocket text message, a JSON string.
    Text,
    /// Anything else: a WebSocket binary message, base64 in JSON.
    Binary,
}

impl Kind {
    /// The contract's rule: valid UTF-8 is text, anything else binary.
    pub fn of(data: &[u8]) -> Kind {
        if std::str::from_utf8(data).is_ok() {
            Kind::Text
        } else {
            Kind::Binary
        }
    }
}

/// What a publisher hands the hub: bytes and whether they travel as text or binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The bytes.
    pub data: Bytes,
    /// Text or binary.
    pub kind: Kind,
}

impl Payload {
    /// A payload whose kind is explicit (a WebSocket frame's opcode: text stays text, binary
    /// stays binary). A text payload that is not UTF-8 is binary.
    pub fn new(data: Bytes, kind: Kind) -> Payload {
        let kind = match kind {
            Kind::Text if std::str::from_utf8(&data).is_err() => Kind::Binary,
            k => k,
        };
        Payload { data, kind }
    }
}

impl From<Bytes> for Payload {
    /// The contract's rule for bodies without a kind (`POST /publish`): valid UTF-8 is text.
    fn from(data: Bytes) -> Payload {
        Payload {
            kind: Kind::of(&data),
            data,
        }
    }
}

/// One published message, shared by every subscriber (`Arc`), with its wire encodings made
/// at most once each, whatever the number of receivers.
#[derive(Debug)]
pub struct Message {
    /// `EPOCH-SEQ`.
    pub id: Box<str>,
    /// Position in its topic's epoch (1-based).
    pub seq: u64,
    /// The payload as published.
    pub data: Bytes,
    /// Text or binary.
    pub kind: Kind,
    position: Id,
    sse: OnceLock<Bytes>,
    poll_json: OnceLock<Bytes>,
    ws: OnceLock<Option<pushwire_ws::frame::SharedFrame>>,
    ws_deflate: OnceLock<Option<pushwire_ws::frame::SharedFrame>>,
}

impl Message {
    /// A message with id `EPOCH-SEQ`.
    pub fn new(epoch: Epoch, seq: u64, payload: impl Into<Payload>) -> Message {
        let Payload { data, kind } = payload.into();
        let position = Id::new(epoch, seq);
        Message {
            id: position.to_string().into_boxed_str(),
            position,
            seq,
            kind,
            data,
            sse: OnceLock::new(),
            poll_json: OnceLock::new(),
            ws: OnceLock::new(),
            ws_deflate: OnceLock::new(),
        }
    }

    /// The id as a typed `EPOCH-SEQ` ([`Id`]); [`Message::id`] is its text.
    pub fn position(&self) -> Id {
        self.position
    }

    /// The SSE event (`id:` + `data:` lines), encoded by the first subscriber that needs it.
    pub fn sse_event(&self) -> &Bytes {
        self.sse
            .get_or_init(|| crate::wire::encode_sse_message(self))
    }

    /// The JSON body of a poll or long poll answered with this message alone
    /// (`{"messages":[..],"next":"<id>","missed":false}`), encoded by the first request that
    /// needs it: a publish that wakes 1,000 long polls is encoded once, not 1,000 times.
    pub fn poll_json(self: &Arc<Self>) -> &Bytes {
        self.poll_json.get_or_init(|| crate::json::single(self))
    }

    /// The unmasked server WebSocket frame (pushwire-ws's [`SharedFrame`]), encoded by the
    /// first subscriber that needs it and shared by all.
    ///
    /// [`SharedFrame`]: pushwire_ws::frame::SharedFrame
    pub fn ws_frame(&self) -> Option<&pushwire_ws::frame::SharedFrame> {
        self.ws
            .get_or_init(|| {
                let op = match self.kind {
                    Kind::Text => pushwire_ws::frame::OpCode::Text,
                    Kind::Binary => pushwire_ws::frame::OpCode::Binary,
                };
                pushwire_ws::frame::SharedFrame::new(op, &self.data).ok()
            })
            .as_ref()
    }

    /// The same frame compressed with permessage-deflate (no context, 15-bit window), made
    /// by the first subscriber that negotiated it and sent as is to every such subscriber:
    /// one compression per message, not per connection. `None` when the payload is under
    /// pushwire-ws's threshold (64 bytes) or does not shrink: send [`Message::ws_frame`].
    pub fn ws_frame_deflate(&self) -> Option<&pushwire_ws::frame::SharedFrame> {
        self.ws_deflate
            .get_or_init(|| {
                let op = match self.kind {
                    Kind::Text => pushwire_ws::frame::OpCode::Text,
                    Kind::Binary => pushwire_ws::frame::OpCode::Binary,
                };
                let cfg = pushwire_ws::deflate::DeflateConfig::default();
                pushwire_ws::frame::SharedFrame::compressed(
                    op,
                    &self.data,
                    cfg.level,
                    cfg.threshold,
                )
                .ok()
                .flatten()
            })
            .as_ref()
    }
}

/// Messages after a cursor, and where to continue.
#[derive(Debug, Clone)]
pub struct Batch {
    /// In order, oldest first.
    pub messages: Vec<Arc<Message>>,
    /// The cursor to pass as `since` next time (`EPOCH-SEQ`).
    pub next: String,
    /// The cursor was of another epoch or older than the history: delivery restarted at the
    /// oldest retained message.
    pub missed: bool,
}

/// Bounds of one subscriber's outbound queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Messages queued at most.
    pub messages: usize,
    /// Payload bytes queued at most.
    pub bytes: usize,
}

/// The subscriber fell behind its [`QueueLimits`] and was cut; resume with its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("subscriber too slow: outbound queue limit passed")]
pub struct Lagged;

#[derive(Debug, Default)]
struct SubShared {
    lagged: AtomicBool,
    queued_bytes: AtomicUsize,
    /// The hub's count of live subscriptions this one is in (the memory hub's, for a
    /// lock-free `/healthz`); `None` for a subscription no such count holds.
    live: Option<Arc<AtomicUsize>>,
    /// Still counted in `live`: cleared by whichever half goes first (the receiver dropped,
    /// or the hub dropping the sender: cut as too slow, found closed, topic gone), so each
    /// subscription leaves the count exactly once, when the lock-held count would drop it.
    counted: AtomicBool,
}

impl SubShared {
    fn uncount(&self) {
        if let Some(live) = &self.live
            && self.counted.swap(false, Ordering::AcqRel)
        {
            live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A live subscription: first [`Subscription::replay`], then [`Subscription::recv`].
#[derive(Debug)]
pub struct Subscription {
    /// Retained messages after the cursor (empty when it was absent), to send before live ones.
    pub replay: Batch,
    rx: mpsc::Receiver<Arc<Message>>,
    shared: Arc<SubShared>,
}

impl Subscription {
    /// Builds the receiving half of a subscription (for other [`Hub`] implementations).
    pub fn channel(replay: Batch, limits: QueueLimits) -> (Subscription, Subscriber) {
        Subscription::channel_counted(replay, limits, None)
    }

    /// [`Subscription::channel`], counted in `live` (when given) until either half goes.
    fn channel_counted(
        replay: Batch,
        limits: QueueLimits,
        live: Option<Arc<AtomicUsize>>,
    ) -> (Subscription, Subscriber) {
        let (tx, rx) = mpsc::channel(limits.messages.max(1));
        if let Some(live) = &live {
            live.fetch_add(1, Ordering::AcqRel);
        }
        let shared = Arc::new(SubShared {
            counted: AtomicBool::new(live.is_some()),
            live,
            ..SubShared::default()
        });
        (
            Subscription {
                replay,
                rx,
                shared: shared.clone(),
            },
            Subscriber { tx, shared, limits },
        )
    }

    /// The next live message; `Ok(None)` when the hub closed the topic; `Err(Lagged)` once the
    /// subscriber was cut as too slow (every later call says so too).
    ///
    /// Cancel-safe: a message is removed from the queue only when returned.
    pub async fn recv(&mut self) -> Result<Option<Arc<Message>>, Lagged> {
        if self.shared.lagged.load(Ordering::Acquire) {
            return Err(Lagged);
        }
        match self.rx.recv().await {
            Some(m) => {
                self.shared
                    .queued_bytes
                    .fetch_sub(m.data.len(), Ordering::AcqRel);
                Ok(Some(m))
            }
            None if self.shared.lagged.load(Ordering::Acquire) => Err(Lagged),
            None => Ok(None),
        }
    }

    /// The next live message if one is queued right now, without waiting: `Ok(None)` when the
    /// queue is empty (or the topic closed, which the next [`Subscription::recv`] reports);
    /// `Err(Lagged)` as for `recv`.
    ///
    /// A transport that woke for one message drains the rest with this, so everything already
    /// queued goes out in one write (SSE fan-out wrote one `sendto` per event without it).
    pub fn try_recv(&mut self) -> Result<Option<Arc<Message>>, Lagged> {
        if self.shared.lagged.load(Ordering::Acquire) {
            return Err(Lagged);
        }
        match self.rx.try_recv() {
            Ok(m) => {
                self.shared
                    .queued_bytes
                    .fetch_sub(m.data.len(), Ordering::AcqRel);
                Ok(Some(m))
            }
            Err(_) => Ok(None),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.uncount();
    }
}

/// The hub's sending half of one subscription.
#[derive(Debug)]
pub struct Subscriber {
    tx: mpsc::Sender<Arc<Message>>,
    shared: Arc<SubShared>,
    limits: QueueLimits,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.shared.uncount();
    }
}

/// What [`Subscriber::offer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Queued.
    Queued,
    /// The receiver is gone; drop this subscriber.
    Closed,
    /// The queue was full: the subscriber is now cut ([`Lagged`]); drop it.
    Lagged,
}

impl Subscriber {
    /// Queues `m` without waiting: a full queue cuts the subscriber instead of slowing the
    /// publisher and every other subscriber.
    pub fn offer(&self, m: &Arc<Message>) -> Offer {
        if self.tx.is_closed() {
            return Offer::Closed;
        }
        let len = m.data.len();
        let before = self.shared.queued_bytes.fetch_add(len, Ordering::AcqRel);
        // One message larger than the byte budget still passes when the queue is empty, or a
        // 1 MiB publish could never reach anyone.
        let over_bytes = before > 0 && before.saturating_add(len) > self.limits.bytes;
        if !over_bytes && self.tx.try_send(m.clone()).is_ok() {
            return Offer::Queued;
        }
        if self.tx.is_closed() {
            return Offer::Closed;
        }
        self.shared.lagged.store(true, Ordering::Release);
        Offer::Lagged
    }

    /// Whether the receiving half is gone (the subscriber can be dropped).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// What `/healthz` reports about the hub.
#[derive(Debug, Clone, Default)]
pub struct HubHealth {
    /// `memory` or `redis`.
    pub kind: &'static str,
    /// Backend state for remote hubs (`up` / `down`), `None` for the memory hub.
    pub backend: Option<&'static str>,
    /// Topics alive.
    pub topics: usize,
    /// Live subscriptions.
    pub subscribers: usize,
    /// Subscribers cut as too slow since start.
    pub slow_disconnects: u64,
    /// Messages published since start.
    pub published: u64,
}

/// Topics, history, fan-out. See the module docs.
pub trait Hub: Send + Sync + 'static {
    /// Appends `data` to `topic` and delivers it to every subscriber; answers its id once
    /// stored (a remote hub answers only after the backend stored it).
    fn publish<'a>(&'a self, topic: &'a str, payload: Payload) -> HubFuture<'a, Arc<Message>>;

    /// Retained messages after `since` (at most `max`), at once ([`Cursor::plan`] rules).
    fn read<'a>(&'a self, topic: &'a str, since: Cursor, max: usize) -> HubFuture<'a, Batch>;

    /// Like [`Hub::read`], but waits until at least one message exists after `since` or
    /// `deadline` passes (then an empty batch with the same `next`). `Cursor::Now` means
    /// after the newest message at the time of the call.
    fn wait<'a>(
        &'a self,
        topic: &'a str,
        since: Cursor,
        max: usize,
        deadline: Instant,
    ) -> HubFuture<'a, Batch>;

    /// Like [`Hub::wait`], for a caller that keeps the time itself: it stops polling the
    /// future at `deadline` (and reads what is there), so the hub may skip its own timer.
    /// The default is [`Hub::wait`]. The memory hub arms no timer here: with a long poll per
    /// connection, one timer registration and removal per answer was avoidable work, as the
    /// connection already has a timer running.
    fn wait_untimed<'a>(
        &'a self,
        topic: &'a str,
        since: Cursor,
        max: usize,
        deadline: Instant,
    ) -> HubFuture<'a, Batch> {
        self.wait(topic, since, max, deadline)
    }

    /// Replay after `since` (none for `Cursor::Now`) then every new message, with no gap and
    /// no duplicate between the two.
    fn subscribe<'a>(
        &'a self,
        topic: &'a str,
        since: Cursor,
        limits: QueueLimits,
    ) -> HubFuture<'a, Subscription>;

    /// Kind, backend state and counters for `/healthz`.
    fn health(&self) -> HubHealth;
}

/// The default hub: everything in this process, fast, lost on restart (a restart starts new
/// epochs, so old cursors report `missed` instead of skipping silently).
#[derive(Debug)]
pub struct MemoryHub {
    history: usize,
    max_topics: usize,
    topics: Mutex<HashMap<Arc<str>, Arc<Topic>>>,
    /// `topics.len()`, stored under its lock at every insert and removal, and the live
    /// subscriptions (see `SubShared::live`): `/healthz` reads counters and takes no lock
    /// (the topics lock and one per topic were about 2 % of a pipelined GET's time).
    topic_count: AtomicUsize,
    live_subscribers: Arc<AtomicUsize>,
    slow: AtomicU64,
    published: AtomicU64,
}

#[derive(Debug)]
struct Topic {
    state: Mutex<TopicState>,
    notify: Notify,
}

#[derive(Debug)]
struct TopicState {
    epoch: Epoch,
    /// Sequence number of the newest message (0 = none yet).
    last: u64,
    log: VecDeque<Arc<Message>>,
    subscribers: Vec<Subscriber>,
    /// Long polls currently waiting, so eviction never drops a watched topic.
    waiters: usize,
    last_used: Instant,
}

impl TopicState {
    /// Whether [`TopicState::read_after`] would answer at once: a message after `since` (and
    /// `max` above 0), or a cursor it cannot honour (`missed`).
    fn has_after(&self, since: Cursor, max: usize) -> bool {
        let first = self.log.front().map_or(self.last + 1, |m| m.seq);
        let plan = since.plan(&Retained {
            epoch: self.epoch,
            first,
            head: self.last,
        });
        // The log holds `first..=last`, so `read_after` delivers something iff `after < last`.
        plan.missed || (max > 0 && plan.after < self.last && !self.log.is_empty())
    }

    /// The rules of `DESIGN.md`, decided by pushwire-poll's [`Cursor::plan`].
    fn read_after(&self, since: Cursor, max: usize) -> Batch {
        let first = self.log.front().map_or(self.last + 1, |m| m.seq);
        let plan = since.plan(&Retained {
            epoch: self.epoch,
            first,
            head: self.last,
        });
        let skip = (plan.after + 1).saturating_sub(first) as usize;
        let messages: Vec<Arc<Message>> = self.log.iter().skip(skip).take(max).cloned().collect();
        let next = match messages.last() {
            // A copy of the text made at publish: `to_string` on a `Box<str>` went through
            // the formatting machinery, once per long-poll answer.
            Some(m) => String::from(&*m.id),
            None => plan.next_if_empty().to_string(),
        };
        Batch {
            next,
            messages,
            missed: plan.missed,
        }
    }
}

impl MemoryHub {
    /// A hub keeping `history` messages per topic and at most `max_topics` topics.
    pub fn new(history: usize, max_topics: usize) -> MemoryHub {
        MemoryHub {
            history: history.max(1),
            max_topics: max_topics.max(1),
            topics: Mutex::new(HashMap::new()),
            topic_count: AtomicUsize::new(0),
            live_subscribers: Arc::new(AtomicUsize::new(0)),
            slow: AtomicU64::new(0),
            published: AtomicU64::new(0),
        }
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>, HubError> {
        let mut topics = lock(&self.topics);
        if let Some(t) = topics.get(name) {
            return Ok(t.clone());
        }
        if topics.len() >= self.max_topics {
            // Drop the least recently used topic nobody watches; its epoch dies with it, so
            // a later cursor on it reports `missed` rather than skipping anything.
            let victim = topics
                .iter()
                .filter(|(_, t)| {
                    Arc::strong_count(t) == 1 && {
                        let s = lock(&t.state);
                        s.waiters == 0 && s.subscribers.iter().all(Subscriber::is_closed)
                    }
                })
                .min_by_key(|(_, t)| lock(&t.state).last_used)
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => {
                    topics.remove(&k);
                    self.topic_count.store(topics.len(), Ordering::Relaxed);
                }
                None => return Err(HubError::TooManyTopics),
            }
        }
        let t = Arc::new(Topic {
            state: Mutex::new(TopicState {
                epoch: Epoch::random(),
                last: 0,
                log: VecDeque::new(),
                subscribers: Vec::new(),
                waiters: 0,
                last_used: Instant::now(),
            }),
            notify: Notify::new(),
        });
        topics.insert(name.into(), t.clone());
        self.topic_count.store(topics.len(), Ordering::Relaxed);
        Ok(t)
    }

    fn publish_now(&self, topic: &str, data: Payload) -> Result<Arc<Message>, HubError> {
        let t = self.topic(topic)?;
        let mut st = lock(&t.state);
        st.last += 1;
        st.last_used = Instant::now();
        let m = Arc::new(Message::new(st.epoch, st.last, data));
        if st.log.len() >= self.history {
            st.log.pop_front();
        }
        st.log.push_back(m.clone());
        let mut slow = 0;
        st.subscribers.retain(|s| match s.offer(&m) {
            Offer::Queued => true,
            Offer::Closed => false,
            Offer::Lagged => {
                slow += 1;
                false
            }
        });
        drop(st);
        if slow > 0 {
            self.slow.fetch_add(slow, Ordering::Relaxed);
        }
        self.published.fetch_add(1, Ordering::Relaxed);
        t.notify.notify_waiters();
        Ok(m)
    }

    fn read_now(&self, topic: &str, since: Cursor, max: usize) -> Result<Batch, HubError> {
        let t = self.topic(topic)?;
        let mut st = lock(&t.state);
        st.last_used = Instant::now();
        Ok(st.read_after(since, max))
    }

    /// Waits for a message after `since`; at `deadline` (if any) answers what is there.
    async fn wait_impl(
        &self,
        topic: &str,
        since: Cursor,
        max: usize,
        deadline: Option<Instant>,
    ) -> Result<Batch, HubError> {
        let t = self.topic(topic)?;
        // Pin "now" once, so a message published while we wait is not mistaken for history.
        let since = {
            let mut st = lock(&t.state);
            st.waiters += 1;
            match since {
                Cursor::Now => Cursor::After(Id::new(st.epoch, st.last)),
                c => c,
            }
        };
        let mut guard = WaiterGuard {
            topic: &t,
            counted: true,
        };
        loop {
            // Register interest before looking, so a publish between the look and the await
            // still wakes us.
            let notified = t.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                // Only a look: the batch (a vector and a `next` string) is built once there
                // is something to answer.
                let mut st = lock(&t.state);
                if st.has_after(since, max) {
                    return Ok(guard.answer(&mut st, since, max));
                }
            }
            let Some(deadline) = deadline else {
                notified.await;
                // Woken by a publish: look before registering again. The usual wake-up
                // answers now, and a registration is a lock, an insert and a removal on the
                // list every waiter of the topic shares.
                let mut st = lock(&t.state);
                if st.has_after(since, max) {
                    return Ok(guard.answer(&mut st, since, max));
                }
                continue;
            };
            let sleep = tokio::time::sleep_until(deadline.into());
            tokio::select! {
                _ = notified => {}
                _ = sleep => return Ok(lock(&t.state).read_after(since, max)),
            }
        }
    }

    fn subscribe_now(
        &self,
        topic: &str,
        since: Cursor,
        limits: QueueLimits,
    ) -> Result<Subscription, HubError> {
        let t = self.topic(topic)?;
        let mut st = lock(&t.state);
        st.last_used = Instant::now();
        // Replay and registration under one lock: nothing published can fall between them.
        let replay = st.read_after(since, usize::MAX);
        let live = Some(self.live_subscribers.clone());
        let (sub, tx) = Subscription::channel_counted(replay, limits, live);
        st.subscribers.retain(|s| !s.is_closed());
        st.subscribers.push(tx);
        Ok(sub)
    }
}

/// Counts a long poll out of its topic's `waiters` when the wait ends, however it ends.
struct WaiterGuard<'a> {
    topic: &'a Topic,
    /// Still counted in `waiters` (a cancelled or timed-out wait uncounts itself on drop).
    counted: bool,
}

impl WaiterGuard<'_> {
    /// The answer, read under the lock the caller holds, which also uncounts the waiter: the
    /// drop taking the lock a second time was a lock and unlock per answer, when a publish
    /// wakes every waiter of the topic at once.
    fn answer(&mut self, st: &mut TopicState, since: Cursor, max: usize) -> Batch {
        st.waiters = st.waiters.saturating_sub(1);
        self.counted = false;
        st.read_after(since, max)
    }
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        if self.counted {
            let mut st = lock(&self.topic.state);
            st.waiters = st.waiters.saturating_sub(1);
        }
    }
}

/// Locks, ignoring poisoning: hub state stays consistent between statements, and one panicked
/// task must not take every topic down with it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub for MemoryHub {
    fn publish<'a>(&'a self, topic: &'a str, payload: Payload) -> HubFuture<'a, Arc<Message>> {
        let r = self.publish_now(topic, payload);
        Box::pin(std::future::ready(r))
    }

    fn read<'a>(&'a self, topic: &'a str, since: Cursor, max: usize) -> HubFuture<'a, Batch> {
        Box::pin(std::future::ready(self.read_now(topic, since, max)))
    }

    fn wait<'a>(
        &'a self,
        topic: &'a str,
        since: Cursor,
        max: usize,
        deadline: Instant,
    ) -> HubFuture<'a, Batch> {
        Box::pin(self.wait_impl(topic, since, max, Some(deadline)))
    }

    fn wait_untimed<'a>(
        &'a self,
        topic: &'a str,
        since: Cursor,
        max: usize,
        _deadline: Instant,
    ) -> HubFuture<'a, Batch> {
        Box::pin(self.wait_impl(topic, since, max, None))
    }

    fn subscribe<'a>(
        &'a self,
        topic: &'a str,
        since: Cursor,
        limits: QueueLimits,
    ) -> HubFuture<'a, Subscription> {
        Box::pin(std::future::ready(self.subscribe_now(topic, since, limits)))
    }

    fn health(&self) -> HubHealth {
        HubHealth {
            kind: "memory",
            backend: None,
            topics: self.topic_count.load(Ordering::Relaxed),
            subscribers: self.live_subscribers.load(Ordering::Acquire),
            slow_disconnects: self.slow.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    const Q: QueueLimits = QueueLimits {
        messages: 4,
        bytes: 1 << 20,
    };

    #[tokio::test]
    async fn cursor_rules() {
        let hub = MemoryHub::new(3, 10);
        let empty = hub.read("t", Cursor::Now, 10).await.unwrap();
        assert!(empty.messages.is_empty() && !empty.missed);
        assert!(empty.next.ends_with("-0"));
        let epoch = empty.next.trim_end_matches("-0").to_string();
        for i in 1..=5 {
            let m = hub.publish("t", b(&format!("m{i}")).into()).await.unwrap();
            assert_eq!(&*m.id, format!("{epoch}-{i}"));
        }
        // absent: from now on
        let now = hub.read("t", Cursor::Now, 10).await.unwrap();
        assert!(now.messages.is_empty());
        assert_eq!(now.next, format!("{epoch}-5"));
        // 0: oldest retained (3, 4, 5), not missed
        let all = hub.read("t", Cursor::Oldest, 10).await.unwrap();
        let seqs: Vec<u64> = all.messages.iter().map(|m| m.seq).collect();
        assert_eq!((seqs, all.missed), (vec![3, 4, 5], false));
        // still retained
        let c = Cursor::parse(Some(&format!("{epoch}-3"))).unwrap();
        let r = hub.read("t", c, 10).await.unwrap();
        assert_eq!(r.messages.len(), 2);
        assert!(!r.missed);
        assert_eq!(r.next, format!("{epoch}-5"));
        // 2 is the one before the oldest retained: nothing lost
        let c = Cursor::parse(Some(&format!("{epoch}-2"))).unwrap();
        assert!(!hub.read("t", c, 10).await.unwrap().missed);
        // 1: message 2 was dropped -> missed, from oldest
        let c = Cursor::parse(Some(&format!("{epoch}-1"))).unwrap();
        let r = hub.read("t", c, 10).await.unwrap();
        assert!(r.missed);
        assert_eq!(r.messages[0].seq, 3);
        // other epoch
        let c = Cursor::parse(Some("zz-1")).unwrap();
        assert!(hub.read("t", c, 10).await.unwrap().missed);
        // max bounds the batch, next continues from it
        let r = hub.read("t", Cursor::Oldest, 1).await.unwrap();
        assert_eq!(r.next, format!("{epoch}-3"));
    }

    #[tokio::test]
    async fn subscribe_replays_then_goes_live_without_gap() {
        let hub = MemoryHub::new(100, 10);
        hub.publish("t", b("a").into()).await.unwrap();
        let mut s = hub.subscribe("t", Cursor::Oldest, Q).await.unwrap();
        hub.publish("t", b("b").into()).await.unwrap();
        assert_eq!(s.replay.messages.len(), 1);
        assert_eq!(s.recv().await.unwrap().unwrap().data, b("b"));
    }

    #[tokio::test]
    async fn slow_subscriber_is_cut_and_others_keep_receiving() {
        let hub = MemoryHub::new(100, 10);
        let mut slow = hub.subscribe("t", Cursor::Now, Q).await.unwrap();
        let mut fast = hub.subscribe("t", Cursor::Now, Q).await.unwrap();
        for i in 0..10 {
            hub.publish("t", b(&i.to_string()).into()).await.unwrap();
            assert_eq!(fast.recv().await.unwrap().unwrap().seq, i + 1);
        }
        assert_eq!(slow.recv().await.unwrap_err(), Lagged);
        assert_eq!(hub.health().slow_disconnects, 1);
    }

    #[tokio::test]
    async fn byte_budget_cuts_too() {
        let hub = MemoryHub::new(100, 10);
        let lim = QueueLimits {
            messages: 100,
            bytes: 10,
        };
        let mut s = hub.subscribe("t", Cursor::Now, lim).await.unwrap();
        hub.publish("t", b("0123456789abc").into()).await.unwrap(); // alone: passes
        hub.publish("t", b("x").into()).await.unwrap(); // over the budget
        assert_eq!(s.recv().await.unwrap_err(), Lagged);
    }

    #[tokio::test]
    async fn wait_returns_on_publish_or_deadline() {
        let hub = Arc::new(MemoryHub::new(100, 10));
        let deadline = Instant::now() + Duration::from_millis(50);
        let r = hub.wait("t", Cursor::Now, 10, deadline).await.unwrap();
        assert!(r.messages.is_empty());
        let h2 = hub.clone();
        let w = tokio::spawn(async move {
            h2.wait(
                "t",
                Cursor::Now,
                10,
                Instant::now() + Duration::from_secs(10),
            )
            .await
            .unwrap()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        hub.publish("t", b("x").into()).await.unwrap();
        let r = w.await.unwrap();
        assert_eq!(r.messages.len(), 1);
    }

    #[tokio::test]
    async fn untimed_wait_returns_on_publish_and_only_looks_until_then() {
        let hub = Arc::new(MemoryHub::new(100, 10));
        let far = Instant::now() + Duration::from_secs(3600);
        let h2 = hub.clone();
        let w = tokio::spawn(async move { h2.wait_untimed("t", Cursor::Now, 10, far).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!w.is_finished());
        hub.publish("t", b("x").into()).await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(r.messages.len(), 1);
        // The caller keeps the time: a past deadline is not the hub's to act on.
        let past = Instant::now();
        let pending = hub.wait_untimed("t", Cursor::Now, 10, past);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), pending)
                .await
                .is_err()
        );
    }

    fn waiting(hub: &MemoryHub, topic: &str) -> usize {
        lock(&hub.topic(topic).unwrap().state).waiters
    }

    /// A wait counts itself in its topic's `waiters` (eviction spares a watched topic) and
    /// out again however it ends: answered at once, woken by a publish, cancelled, or at its
    /// deadline.
    #[tokio::test]
    async fn every_ended_wait_leaves_the_waiter_count() {
        let hub = Arc::new(MemoryHub::new(100, 10));
        let far = Instant::now() + Duration::from_secs(3600);
        // Woken by a publish (the timed and the untimed wait).
        let (h1, h2) = (hub.clone(), hub.clone());
        let untimed = tokio::spawn(async move { h1.wait_untimed("t", Cursor::Now, 10, far).await });
        let timed = tokio::spawn(async move { h2.wait("t", Cursor::Now, 10, far).await });
        while waiting(&hub, "t") < 2 {
            tokio::task::yield_now().await;
        }
        hub.publish("t", b("x").into()).await.unwrap();
        assert_eq!(untimed.await.unwrap().unwrap().messages.len(), 1);
        assert_eq!(timed.await.unwrap().unwrap().messages.len(), 1);
        assert_eq!(waiting(&hub, "t"), 0);
        // Answered at once: a message is already there.
        let r = hub
            .wait_untimed("t", Cursor::Oldest, 10, far)
            .await
            .unwrap();
        assert_eq!(r.messages.len(), 1);
        assert_eq!(waiting(&hub, "t"), 0);
        // Cancelled mid-wait (a long poll whose client went away).
        let h3 = hub.clone();
        let c = tokio::spawn(async move { h3.wait_untimed("t", Cursor::Now, 10, far).await });
        while waiting(&hub, "t") < 1 {
            tokio::task::yield_now().await;
        }
        c.abort();
        assert!(c.await.unwrap_err().is_cancelled());
        assert_eq!(waiting(&hub, "t"), 0);
        // At its deadline.
        let soon = Instant::now() + Duration::from_millis(10);
        let r = hub.wait("t", Cursor::Now, 10, soon).await.unwrap();
        assert!(r.messages.is_empty());
        assert_eq!(waiting(&hub, "t"), 0);
    }

    /// `has_after` is the cheap look the wait takes before building a batch: it must say
    /// "answer now" exactly when `read_after` has something to answer.
    #[tokio::test]
    async fn has_after_agrees_with_read_after() {
        let hub = MemoryHub::new(3, 10);
        let epoch = hub.read("t", Cursor::Now, 10).await.unwrap().next;
        let epoch = epoch.trim_end_matches("-0").to_string();
        for published in 0..6u64 {
            let mut cursors = vec![Cursor::Now, Cursor::Oldest];
            cursors.extend((0..8).map(|n| Cursor::parse(Some(&format!("{epoch}-{n}"))).unwrap()));
            cursors.push(Cursor::parse(Some("zz-1")).unwrap());
            check_has_after(&hub, &cursors, published);
            hub.publish("t", b("m").into()).await.unwrap();
        }
    }

    fn check_has_after(hub: &MemoryHub, cursors: &[Cursor], published: u64) {
        let t = hub.topic("t").unwrap();
        let st = lock(&t.state);
        for &c in cursors {
            for max in [0, 1, 10] {
                let b = st.read_after(c, max);
                let want = !b.messages.is_empty() || b.missed;
                assert_eq!(
                    st.has_after(c, max),
                    want,
                    "{c:?} max {max} after {published}"
                );
            }
        }
    }

    #[tokio::test]
    async fn topic_count_is_bounded_and_idle_topics_are_dropped() {
        let hub = MemoryHub::new(10, 2);
        let _s = hub.subscribe("a", Cursor::Now, Q).await.unwrap();
        hub.publish("b", b("x").into()).await.unwrap();
        hub.publish("c", b("x").into()).await.unwrap(); // evicts b
        assert_eq!(hub.health().topics, 2);
        let _s2 = hub.subscribe("c", Cursor::Now, Q).await.unwrap();
        assert_eq!(
            hub.publish("d", b("x").into()).await.unwrap_err(),
            HubError::TooManyTopics
        );
    }

    /// What `/healthz` reported when it counted under the locks: every topic's subscribers
    /// whose receiver is still there.
    fn counted_under_locks(hub: &MemoryHub) -> (usize, usize) {
        let topics = lock(&hub.topics);
        let subs = topics
            .values()
            .map(|t| {
                let st = lock(&t.state);
                st.subscribers.iter().filter(|s| !s.is_closed()).count()
            })
            .sum();
        (topics.len(), subs)
    }

    /// The lock-free counters answer what counting under the locks answers, through
    /// subscribe, a receiver dropped, a subscriber cut as too slow, a topic evicted, and a
    /// subscription of another hub (not counted).
    #[tokio::test]
    async fn health_counters_match_counting_under_the_locks() {
        let hub = MemoryHub::new(100, 3);
        let check = |hub: &MemoryHub, want: (usize, usize)| {
            let h = hub.health();
            assert_eq!((h.topics, h.subscribers), want);
            assert_eq!(counted_under_locks(hub), want);
        };
        check(&hub, (0, 0));
        let a1 = hub.subscribe("a", Cursor::Now, Q).await.unwrap();
        let a2 = hub.subscribe("a", Cursor::Now, Q).await.unwrap();
        let b1 = hub.subscribe("b", Cursor::Now, Q).await.unwrap();
        check(&hub, (2, 3));
        // The receiver goes first: counted out at once, though still in the topic's list.
        drop(a1);
        check(&hub, (2, 2));
        // Cut as too slow (the hub drops its sender first), then the receiver goes too.
        for i in 0..=Q.messages {
            hub.publish("b", b(&i.to_string()).into()).await.unwrap();
        }
        check(&hub, (2, 1));
        drop(b1);
        check(&hub, (2, 1));
        // A topic nobody watches is evicted for a new one; its count goes with it.
        hub.publish("c", b("x").into()).await.unwrap();
        hub.publish("d", b("x").into()).await.unwrap(); // evicts b
        check(&hub, (3, 1));
        drop(a2);
        check(&hub, (3, 0));
        // Another hub's channel is not this hub's to count.
        let empty = hub.read("c", Cursor::Now, 0).await.unwrap();
        let (other, tx) = Subscription::channel(empty, Q);
        check(&hub, (3, 0));
        drop((other, tx));
        check(&hub, (3, 0));
    }

    #[test]
    fn kind_rule() {
        assert_eq!(Kind::of(b"h\xc3\xa9"), Kind::Text);
        assert_eq!(Kind::of(b"\xff"), Kind::Binary);
    }
}
