//! A topic shared between tasks: appends from anywhere, reads, and long-poll waits.
//!
//! The tokio shell of this crate, and all of it: it locks, notifies and sleeps, while every
//! decision (which messages, `missed`, `next`) is [`Log`]'s.
//!
//! Waking: one [`tokio::sync::Notify`] per topic. `append` calls
//! [`Notify::notify_waiters`] once; waiters are kept in tokio's intrusive list, whose nodes
//! live inside the waiting futures themselves, so a waiter costs the topic no allocation and
//! a dropped waiter unlinks itself. The wake-up cannot be lost: a waiter creates its
//! `Notified` future *before* it checks the log, and tokio guarantees that a `Notified`
//! receives every `notify_waiters` from its creation on, polled or not.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::Poll;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::Config;
use crate::cursor::{Cursor, Epoch, Id};
use crate::log::{Batch, Inserted, Log};

/// One topic: a [`Log`] behind a lock, plus the means to wait for it to grow.
///
/// Share it as `Arc<Topic>`; every method takes `&self`. Appends from many tasks get dense,
/// ordered ids (the write lock serialises them). Locks are held only for the in-memory read
/// or append, never across an `.await`.
///
/// Streaming transports (SSE, WebSocket) can use it too: a subscriber loops on
/// [`Topic::next_after`] and sets `cursor = After(batch.next)`. It then needs
/// no queue of its own: a subscriber slower than the retained history gets `missed: true`
/// instead of growing a buffer, and one that keeps up never misses a message.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::{sync::Arc, time::Duration};
/// use bytes::Bytes;
/// use pushwire_poll::{Config, Cursor, Topic};
/// use tokio::time::Instant;
///
/// let topic = Arc::new(Topic::new(&Config::default()));
/// let waiter = {
///     let topic = topic.clone();
///     tokio::spawn(async move {
///         let deadline = Instant::now() + Duration::from_secs(10);
///         topic.wait_after(&Cursor::Oldest, 100, deadline).await
///     })
/// };
/// let id = topic.append(Bytes::from_static(b"news"));
/// let batch = waiter.await.unwrap();
/// assert_eq!(batch.messages[0].id, id);
/// # }
/// ```
#[derive(Debug)]
pub struct Topic {
    log: RwLock<Log>,
    notify: Notify,
    waiting: AtomicUsize,
}

impl Topic {
    /// A topic with a fresh empty log (new random epoch).
    pub fn new(cfg: &Config) -> Topic {
        Topic::from_log(Log::new(cfg))
    }

    /// A topic around an existing log.
    pub fn from_log(log: Log) -> Topic {
        Topic {
            log: RwLock::new(log),
            notify: Notify::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    // A panic while a lock is held cannot leave `Log` half-updated in a way that matters
    // (append's steps keep `head`/`entries` consistent before anything can panic), so a
    // poisoned lock is used as is rather than turning one bug into a dead topic.
    fn read(&self) -> RwLockReadGuard<'_, Log> {
        self.log.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Log> {
        self.log.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one message (one publish) and wakes every waiter: one `notify_waiters` call,
    /// however many there are.
    pub fn append(&self, data: Bytes) -> Id {
        let id = self.write().append(data);
        self.notify.notify_waiters();
        id
    }

    /// [`Log::insert`] for a topic mirroring another store; wakes waiters when the log
    /// changed.
    pub fn insert(&self, id: Id, data: Bytes) -> Inserted {
        let outcome = self.write().insert(id, data);
        if matches!(outcome, Inserted::Appended | Inserted::NewEpoch) {
            self.notify.notify_waiters();
        }
        outcome
    }

    /// Replaces the log, as if the topic had been recreated (new epoch). Waiters are woken
    /// and see the new log: a cursor from the old one gets `missed: true`.
    pub fn replace_log(&self, log: Log) {
        *self.write() = log;
        self.notify.notify_waiters();
    }

    /// The messages after `cursor` now, without waiting (short poll, SSE/WebSocket replay).
    /// See [`Log::read_after`].
    pub fn read_after(&self, cursor: &Cursor, max: usize) -> Batch {
        self.read().read_after(cursor, max)
    }

    /// The newest id (`EPOCH-0` while empty).
    pub fn head(&self) -> Id {
        self.read().head()
    }

    /// The log's epoch.
    pub fn epoch(&self) -> Epoch {
        self.read().epoch()
    }

    /// Runs `f` on the log under the read lock (statistics, custom reads). Keep `f` short:
    /// appends wait for it.
    pub fn with_log<R>(&self, f: impl FnOnce(&Log) -> R) -> R {
        f(&self.read())
    }

    /// Number of [`Topic::wait_after`] calls currently waiting (cancelled ones excluded).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Long poll: the messages after `cursor`, as soon as at least one exists, or at
    /// `deadline` whatever there is (then usually an empty batch with `next` unchanged).
    ///
    /// A [`Cursor::Now`] is pinned to the head at the first check, so the call waits for
    /// messages published after it started. A cursor that gets `missed` (another epoch,
    /// evicted history) is answered once there are messages to go with it, or at the
    /// deadline, so a client that long-polls a restarted server receives `missed: true`
    /// together with the new messages.
    ///
    /// With `max == 0` the batch is empty even when messages exist (and `next` does not
    /// move), so a loop must pass `max >= 1`.
    ///
    /// Cancellation-safe: dropping the future (the client went away) unregisters the waiter
    /// and leaves nothing behind. The future holds a few hundred bytes (a timer entry, a
    /// `Notified`, the cursor) and makes no allocation of its own while waiting.
    // Not an `async fn` wrapping `wait`: returning its future directly keeps one copy of
    // the state per waiter (the benchmark measured 48 bytes more per waiter with a wrapper).
    pub fn wait_after<'a>(
        &'a self,
        cursor: &'a Cursor,
        max: usize,
        deadline: Instant,
    ) -> impl Future<Output = Batch> + Send + 'a {
        self.wait(cursor, max, Some(deadline))
    }

    /// [`Topic::wait_after`] without a deadline: the next messages after `cursor`, however
    /// long that takes. For streaming subscribers (SSE, WebSocket), which loop on it and
    /// stop by dropping the future (it is cancellation-safe); it holds no timer.
    pub fn next_after<'a>(
        &'a self,
        cursor: &'a Cursor,
        max: usize,
    ) -> impl Future<Output = Batch> + Send + 'a {
        self.wait(cursor, max, None)
    }

    async fn wait(&self, cursor: &Cursor, max: usize, deadline: Option<Instant>) -> Batch {
        let _registered = WaitingGuard::new(&self.waiting);
        let mut cursor = *cursor;
        let mut sleep = pin!(deadline.map(tokio::time::sleep_until));
        loop {
            // Register before checking: an append between the check and the await still
            // wakes this `Notified` (tokio: "guaranteed to receive wakeups from
            // notify_waiters() as soon as it has been created").
            let mut notified = pin!(self.notify.notified());
            {
                let log = self.read();
                if cursor == Cursor::Now {
                    cursor = Cursor::After(log.head());
                }
                if log.has_after(&cursor) || deadline.is_some_and(|d| Instant::now() >= d) {
                    return log.read_after(&cursor, max);
                }
            }
            let woken = std::future::poll_fn(|cx| {
                if notified.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(true);
                }
                let expired = sleep
                    .as_mut()
                    .as_pin_mut()
                    .is_some_and(|s| s.poll(cx).is_ready());
                if expired {
                    Poll::Ready(false)
                } else {
                    Poll::Pending
                }
            })
            .await;
            if !woken {
                return self.read_after(&cursor, max);
            }
        }
    }
}

/// Counts a waiter while its future is alive; the `Drop` runs on completion and on
/// cancellation alike.
struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        WaitingGuard(counter)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn topic() -> Arc<Topic> {
        Arc::new(Topic::new(&Config::default()))
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[tokio::test]
    async fn returns_at_once_when_messages_exist() {
        let t = topic();
        t.append(Bytes::from_static(b"a"));
        let b = t.wait_after(&Cursor::Oldest, 10, far()).await;
        assert_eq!(b.messages.len(), 1);
        assert_eq!(t.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_answers_empty_with_same_next() {
        let t = topic();
        t.append(Bytes::from_static(b"a"));
        let since = Cursor::After(t.head());
        let b = t
            .wait_after(&since, 10, Instant::now() + Duration::from_millis(500))
            .await;
        assert!(b.messages.is_empty() && !b.missed);
        assert_eq!(Cursor::After(b.next), since);
        // Now: pinned to the head at the start.
        let b = t
            .wait_after(
                &Cursor::Now,
                10,
                Instant::now() + Duration::from_millis(500),
            )
            .await;
        assert_eq!(b.next, t.head());
    }

    #[tokio::test]
    async fn now_waits_for_the_next_publish_only() {
        let t = topic();
        t.append(Bytes::from_static(b"before"));
        let w = tokio::spawn({
            let t = t.clone();
            async move { t.wait_after(&Cursor::Now, 10, far()).await }
        });
        while t.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let id = t.append(Bytes::from_static(b"after"));
        let b = w.await.unwrap();
        assert_eq!(b.messages.len(), 1);
        assert_eq!(b.messages[0].id, id);
        assert_eq!(b.messages[0].data, "after");
    }

    #[tokio::test(start_paused = true)]
    async fn next_after_streams_every_message_without_a_deadline() {
        let t = topic();
        let reader = tokio::spawn({
            let t = t.clone();
            async move {
                let mut cursor = Cursor::Oldest;
                let mut seen = Vec::new();
                while seen.len() < 50 {
                    let b = t.next_after(&cursor, 4).await;
                    seen.extend(b.messages.iter().map(|m| m.id.seq));
                    cursor = Cursor::After(b.next);
                }
                seen
            }
        });
        for i in 0..50u64 {
            t.append(Bytes::from(i.to_string()));
            if i % 7 == 0 {
                // Let the reader catch up sometimes, and let (paused) time pass: with no
                // deadline, nothing times out.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
        assert_eq!(reader.await.unwrap(), (1..=50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn dropped_waiters_leave_nothing() {
        let t = topic();
        let mut handles = Vec::new();
        for _ in 0..100 {
            let t = t.clone();
            handles.push(tokio::spawn(async move {
                t.wait_after(&Cursor::Now, 10, far()).await
            }));
        }
        while t.waiting() < 100 {
            tokio::task::yield_now().await;
        }
        for h in &handles {
            h.abort();
        }
        for h in handles {
            assert!(h.await.unwrap_err().is_cancelled());
        }
        assert_eq!(t.waiting(), 0);
        // Only our handle is left; no waiter holds the topic.
        assert_eq!(Arc::strong_count(&t), 1);
        t.append(Bytes::from_static(b"nobody listens"));
    }

    #[tokio::test]
    async fn replaced_log_wakes_waiters_with_missed() {
        let t = topic();
        t.append(Bytes::from_static(b"old"));
        let cursor = Cursor::After(t.head());
        let w = tokio::spawn({
            let t = t.clone();
            async move { t.wait_after(&cursor, 10, far()).await }
        });
        while t.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let fresh = Log::new(&Config::default());
        let new_epoch = fresh.epoch();
        t.replace_log(fresh);
        t.append(Bytes::from_static(b"new"));
        let b = w.await.unwrap();
        assert!(b.missed);
        assert_eq!(b.messages[0].id, Id::new(new_epoch, 1));
    }
}
