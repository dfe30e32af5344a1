//! A node's copy of one topic: the newest `history` messages of its Redis stream, with the
//! node's local subscribers and long-poll waiters.
//!
//! Only the next sequence number of the current epoch is ever appended, so what local
//! subscribers receive is exactly the stream's order. Anything else (a gap, another epoch)
//! is left to [`Mirror::apply`], which installs a snapshot read from Redis.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pushwire_poll::{Cursor, Epoch, Id, Retained};
use pushwire_server::hub::{
    Batch, HubError, Message, Offer, Payload, QueueLimits, Subscriber, Subscription,
};
use tokio::sync::Notify;

use crate::wire::Snapshot;

/// Locks, ignoring poisoning: the state is consistent between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) struct Mirror {
    state: Mutex<State>,
    notify: Notify,
    slow: Arc<AtomicU64>,
    /// Catch-ups from Redis run one at a time per topic, so snapshots are applied in the order
    /// Redis produced them (an older snapshot can never undo a newer one).
    pub(crate) sync_gate: tokio::sync::Mutex<()>,
    /// Catch-ups started so far: a caller that finds one was started (and, holding the gate,
    /// finished) after it arrived needs no round trip of its own. A thousand polls on one
    /// topic cost a few Redis calls, not a thousand.
    pub(crate) syncs_started: AtomicU64,
}

struct State {
    /// `None` until the first snapshot from Redis.
    epoch: Option<Epoch>,
    head: u64,
    log: VecDeque<Arc<Message>>,
    history: usize,
    subscribers: Vec<Subscriber>,
    waiters: usize,
    last_used: Instant,
}

impl State {
    fn append(&mut self, m: Arc<Message>, slow: &AtomicU64) {
        self.head = m.seq;
        if self.log.len() >= self.history {
            self.log.pop_front();
        }
        self.log.push_back(m.clone());
        let mut cut = 0;
        self.subscribers.retain(|s| match s.offer(&m) {
            Offer::Queued => true,
            Offer::Closed => false,
            Offer::Lagged => {
                cut += 1;
                false
            }
        });
        if cut > 0 {
            slow.fetch_add(cut, Ordering::Relaxed);
        }
    }

    /// The stream moved on in a way live subscribers cannot follow without a gap (messages
    /// trimmed before this node saw them, or a new epoch): end their subscriptions, so they
    /// resume with their cursor and are told `missed`.
    fn restart(&mut self, epoch: Epoch, head: u64) {
        self.subscribers.clear();
        self.log.clear();
        self.epoch = Some(epoch);
        self.head = head;
    }

    fn read_after(&self, since: Cursor, max: usize) -> Result<Batch, HubError> {
        let epoch = self.epoch.ok_or(HubError::Unavailable)?;
        let first = self.log.front().map_or(self.head + 1, |m| m.seq);
        let plan = since.plan(&Retained {
            epoch,
            first,
            head: self.head,
        });
        let skip = (plan.after + 1).saturating_sub(first) as usize;
        let messages: Vec<Arc<Message>> = self.log.iter().skip(skip).take(max).cloned().collect();
        let next = match messages.last() {
            Some(m) => m.id.to_string(),
            None => plan.next_if_empty().to_string(),
        };
        Ok(Batch {
            next,
            messages,
            missed: plan.missed,
        })
    }
}

impl Mirror {
    pub(crate) fn new(history: usize, slow: Arc<AtomicU64>) -> Mirror {
        Mirror {
            state: Mutex::new(State {
                epoch: None,
                head: 0,
                log: VecDeque::new(),
                history: history.max(1),
                subscribers: Vec::new(),
                waiters: 0,
                last_used: Instant::now(),
            }),
            notify: Notify::new(),
            slow,
            sync_gate: tokio::sync::Mutex::new(()),
            syncs_started: AtomicU64::new(0),
        }
    }

    pub(crate) fn position(&self) -> (Option<Epoch>, u64) {
        let st = lock(&self.state);
        (st.epoch, st.head)
    }

    pub(crate) fn is_idle(&self) -> bool {
        let st = lock(&self.state);
        st.waiters == 0 && st.subscribers.iter().all(|s| s.is_closed())
    }

    pub(crate) fn last_used(&self) -> Instant {
        lock(&self.state).last_used
    }

    pub(crate) fn subscriber_count(&self) -> usize {
        lock(&self.state)
            .subscribers
            .iter()
            .filter(|s| !s.is_closed())
            .count()
    }

    /// Whether message `id` is already here (or was, before the history dropped it).
    pub(crate) fn holds(&self, id: Id) -> bool {
        let st = lock(&self.state);
        st.epoch == Some(id.epoch) && id.seq <= st.head
    }

    /// Appends `m` if it is the next message of the current epoch; `true` also when it is
    /// already here (a redelivery). `false`: out of order, the caller catches up from Redis.
    pub(crate) fn offer(&self, m: &Arc<Message>) -> bool {
        let mut st = lock(&self.state);
        let id = m.position();
        if st.epoch != Some(id.epoch) {
            return false;
        }
        if id.seq <= st.head {
            return true;
        }
        if id.seq != st.head + 1 {
            return false;
        }
        st.append(m.clone(), &self.slow);
        drop(st);
        self.notify.notify_waiters();
        true
    }

    /// Installs a snapshot read from Redis: entries after the head are appended in order;
    /// a new epoch or entries trimmed before this node saw them restart the mirror.
    pub(crate) fn apply(&self, snap: Snapshot) {
        let mut st = lock(&self.state);
        if st.epoch != Some(snap.epoch) {
            let head = snap.entries.first().map_or(snap.head, |e| e.0 - 1);
            st.restart(snap.epoch, head);
        }
        for (seq, kind, data) in snap.entries {
            if seq <= st.head {
                continue;
            }
            if seq != st.head + 1 {
                st.restart(snap.epoch, seq - 1);
            }
            let m = Arc::new(Message::new(snap.epoch, seq, Payload::new(data, kind)));
            st.append(m, &self.slow);
        }
        if st.head < snap.head {
            // The stream holds nothing after our head although Redis counted further.
            st.restart(snap.epoch, snap.head);
        }
        drop(st);
        self.notify.notify_waiters();
    }

    pub(crate) fn read(&self, since: Cursor, max: usize) -> Result<Batch, HubError> {
        let mut st = lock(&self.state);
        st.last_used = Instant::now();
        st.read_after(since, max)
    }

    pub(crate) fn subscribe(
        &self,
        since: Cursor,
        limits: QueueLimits,
    ) -> Result<Subscription, HubError> {
        let mut st = lock(&self.state);
        st.last_used = Instant::now();
        // Replay and registration under one lock: nothing appended can fall between them.
        let replay = st.read_after(since, usize::MAX)?;
        let (sub, tx) = Subscription::channel(replay, limits);
        st.subscribers.retain(|s| !s.is_closed());
        st.subscribers.push(tx);
        Ok(sub)
    }

    pub(crate) async fn wait(
        &self,
        since: Cursor,
        max: usize,
        deadline: Instant,
    ) -> Result<Batch, HubError> {
        let since = match since {
            Cursor::Now => {
                let st = lock(&self.state);
                let epoch = st.epoch.ok_or(HubError::Unavailable)?;
                Cursor::After(Id::new(epoch, st.head))
            }
            c => c,
        };
        lock(&self.state).waiters += 1;
        let _guard = WaiterGuard(self);
        loop {
            // Register interest before looking, so an append in between still wakes us.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let batch = lock(&self.state).read_after(since, max)?;
            if !batch.messages.is_empty() || batch.missed {
                return Ok(batch);
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline.into()) => {
                    return lock(&self.state).read_after(since, max);
                }
            }
        }
    }
}

struct WaiterGuard<'a>(&'a Mirror);

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.waiters = st.waiters.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use pushwire_server::hub::Kind;

    const Q: QueueLimits = QueueLimits {
        messages: 100,
        bytes: 1 << 20,
    };

    fn ep(s: &str) -> Epoch {
        Epoch::new(s).unwrap()
    }

    fn msg(e: &str, seq: u64) -> Arc<Message> {
        Arc::new(Message::new(ep(e), seq, Bytes::from(format!("m{seq}"))))
    }

    fn snap(e: &str, head: u64, seqs: std::ops::RangeInclusive<u64>) -> Snapshot {
        Snapshot {
            epoch: ep(e),
            head,
            entries: seqs
                .map(|s| (s, Kind::Text, Bytes::from(format!("m{s}"))))
                .collect(),
        }
    }

    fn mirror(history: usize) -> Mirror {
        Mirror::new(history, Arc::default())
    }

    fn seqs(b: &Batch) -> Vec<u64> {
        b.messages.iter().map(|m| m.seq).collect()
    }

    #[tokio::test]
    async fn only_the_next_seq_is_appended_live() {
        let m = mirror(10);
        assert!(!m.offer(&msg("e", 1)), "never synced: catch up first");
        assert_eq!(
            m.read(Cursor::Oldest, 10).unwrap_err(),
            HubError::Unavailable
        );
        m.apply(snap("e", 2, 1..=2));
        let mut sub = m.subscribe(Cursor::Oldest, Q).unwrap();
        assert_eq!(seqs(&sub.replay), [1, 2]);
        assert!(m.offer(&msg("e", 3)));
        assert!(m.offer(&msg("e", 3)), "a redelivery is already here");
        assert!(m.offer(&msg("e", 2)));
        assert!(!m.offer(&msg("e", 5)), "a gap is left to the catch-up");
        assert!(!m.offer(&msg("x", 4)), "another epoch too");
        m.apply(snap("e", 5, 4..=5));
        for want in 3..=5 {
            assert_eq!(sub.recv().await.unwrap().unwrap().seq, want);
        }
        let b = m.read(Cursor::Oldest, 10).unwrap();
        assert_eq!((seqs(&b), b.missed), (vec![1, 2, 3, 4, 5], false));
    }

    #[tokio::test]
    async fn a_stale_or_repeated_snapshot_changes_nothing() {
        let m = mirror(10);
        m.apply(snap("e", 3, 1..=3));
        let mut sub = m.subscribe(Cursor::Now, Q).unwrap();
        m.apply(snap("e", 2, 1..=2));
        m.apply(snap("e", 3, 2..=3));
        assert!(m.offer(&msg("e", 4)));
        assert_eq!(sub.recv().await.unwrap().unwrap().seq, 4);
        assert_eq!(m.position(), (Some(ep("e")), 4));
    }

    #[tokio::test]
    async fn new_epoch_or_trimmed_gap_ends_live_subscribers_and_reports_missed() {
        let m = mirror(10);
        m.apply(snap("e", 2, 1..=2));
        let mut sub = m.subscribe(Cursor::Now, Q).unwrap();
        // Redis lost the topic: a new epoch from 1.
        m.apply(snap("f", 1, 1..=1));
        assert!(sub.recv().await.unwrap().is_none(), "ended, not fed a jump");
        let b = m.read(Cursor::After(Id::new(ep("e"), 2)), 10).unwrap();
        assert_eq!((seqs(&b), b.missed), (vec![1], true));
        // Entries 2..=4 were trimmed before this node saw them.
        let mut sub = m.subscribe(Cursor::Now, Q).unwrap();
        m.apply(snap("f", 6, 5..=6));
        assert!(sub.recv().await.unwrap().is_none());
        let b = m.read(Cursor::After(Id::new(ep("f"), 1)), 10).unwrap();
        assert_eq!((seqs(&b), b.missed), (vec![5, 6], true));
        // A fresh mirror of a long stream holds only its newest `history` messages.
        let m = mirror(3);
        m.apply(snap("g", 9, 7..=9));
        let b = m.read(Cursor::After(Id::new(ep("g"), 6)), 10).unwrap();
        assert_eq!((seqs(&b), b.missed), (vec![7, 8, 9], false));
        assert!(
            m.read(Cursor::After(Id::new(ep("g"), 5)), 10)
                .unwrap()
                .missed
        );
    }

    #[tokio::test]
    async fn history_bounds_the_mirror() {
        let m = mirror(2);
        m.apply(Snapshot {
            epoch: ep("e"),
            head: 0,
            entries: Vec::new(),
        });
        for s in 1..=5 {
            assert!(m.offer(&msg("e", s)));
        }
        let b = m.read(Cursor::Oldest, 10).unwrap();
        assert_eq!(seqs(&b), [4, 5]);
    }

    #[tokio::test]
    async fn long_poll_wakes_on_append() {
        let m = Arc::new(mirror(10));
        m.apply(Snapshot {
            epoch: ep("e"),
            head: 0,
            entries: Vec::new(),
        });
        let w = tokio::spawn({
            let m = m.clone();
            async move {
                m.wait(
                    Cursor::Now,
                    10,
                    Instant::now() + std::time::Duration::from_secs(10),
                )
                .await
            }
        });
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(m.offer(&msg("e", 1)));
        let b = w.await.unwrap().unwrap();
        assert_eq!(seqs(&b), [1]);
    }
}
