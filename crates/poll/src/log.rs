//! The retained history of one topic: a ring of payloads numbered within an epoch.
//!
//! Sans-IO and single-threaded: [`Log`] is plain data behind `&mut self`. Sharing it between
//! tasks and waiting on it is [`Topic`](crate::Topic)'s job.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::config::Config;
use crate::cursor::{Cursor, Epoch, Id, ReadPlan, Retained};

/// One published message: its id and its payload.
///
/// A payload that is valid UTF-8 is a text message, anything else binary (DESIGN.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `EPOCH-SEQ` of this message.
    pub id: Id,
    /// The payload, shared (cloning a message never copies it).
    pub data: Bytes,
}

impl Message {
    /// Builds a message.
    pub fn new(id: Id, data: Bytes) -> Message {
        Message { id, data }
    }

    /// The payload as text, or `None` for a binary message (not valid UTF-8).
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }
}

/// The answer to a read: what `/poll` and `/long-poll` encode as JSON, and what SSE and
/// WebSocket replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The messages after the cursor, oldest first, ids consecutive.
    pub messages: Vec<Message>,
    /// The cursor for the next request: the last message's id, or when there is none the
    /// position the read started after.
    pub next: Id,
    /// Messages the cursor covered are gone (evicted, or the cursor is of another epoch);
    /// `messages` then starts at the oldest retained message.
    pub missed: bool,
}

impl Batch {
    /// An empty batch answering `plan` (nothing after the cursor yet).
    pub fn empty(plan: &ReadPlan) -> Batch {
        Batch {
            messages: Vec::new(),
            next: plan.next_if_empty(),
            missed: plan.missed,
        }
    }
}

/// What [`Log::insert`] did with a message whose id was assigned elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// The id was the next of this epoch: appended.
    Appended,
    /// The id is at or before the head of this epoch (a redelivery), or is an `E-0`
    /// position rather than a message: ignored.
    Duplicate,
    /// The id skips sequence numbers: nothing inserted. Insert `expected..id.seq` first
    /// (from the store's history), or [`Log::reset`] if they are gone.
    Gap {
        /// The sequence number the log needs next.
        expected: u64,
    },
    /// The id is of another epoch (the store lost the topic and started over): the log was
    /// emptied, restarted in that epoch, and the message appended. Old cursors get `missed`.
    NewEpoch,
}

/// A topic's retained messages: numbered 1, 2, 3, ... within a random epoch, bounded by
/// count ([`Config::history`]) and payload bytes ([`Config::history_bytes`]), oldest evicted
/// first.
///
/// ```
/// use bytes::Bytes;
/// use pushwire_poll::{Config, Cursor, Log};
/// let mut log = Log::new(&Config::default());
/// let id = log.append(Bytes::from_static(b"hello"));
/// assert_eq!(id.seq, 1);
/// let batch = log.read_after(&Cursor::Oldest, 100);
/// assert_eq!(batch.messages[0].data, "hello");
/// assert_eq!(batch.next, id);
/// assert!(!batch.missed);
/// ```
#[derive(Debug)]
pub struct Log {
    epoch: Epoch,
    /// Seq of the newest message ever appended (0 before the first). The retained messages
    /// are `head - entries.len() + 1 ..= head`: ids are dense, so they need not be stored.
    head: u64,
    entries: VecDeque<Bytes>,
    /// Sum of the retained payload lengths.
    bytes: usize,
    history: usize,
    history_bytes: usize,
    max_batch_bytes: usize,
}

impl Log {
    /// An empty log with a fresh random epoch ([`Epoch::random`]).
    pub fn new(cfg: &Config) -> Log {
        Log::with_epoch(Epoch::random(), cfg)
    }

    /// An empty log with a given epoch (tests, or a store that chooses epochs itself).
    ///
    /// A `history` of 0 is treated as 1 ([`Config::validate`] rejects it).
    pub fn with_epoch(epoch: Epoch, cfg: &Config) -> Log {
        Log {
            epoch,
            head: 0,
            // Grows on demand: a topic with few messages does not pay for a full ring.
            entries: VecDeque::new(),
            bytes: 0,
            history: cfg.history.max(1),
            history_bytes: cfg.history_bytes,
            max_batch_bytes: cfg.max_batch_bytes,
        }
    }

    /// This log's epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The newest id (`EPOCH-0` while empty): what `since` absent answers as `next`.
    pub fn head(&self) -> Id {
        Id::new(self.epoch, self.head)
    }

    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no message is retained.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of the retained payload lengths, in bytes.
    pub fn retained_bytes(&self) -> usize {
        self.bytes
    }

    /// The retained range, for [`Cursor::plan`].
    pub fn retained(&self) -> Retained {
        Retained {
            epoch: self.epoch,
            first: self.first(),
            head: self.head,
        }
    }

    fn first(&self) -> u64 {
        // `entries.len() <= head` always: every retained entry was counted in `head`.
        self.head - self.entries.len() as u64 + 1
    }

    /// Appends one message and returns its id, evicting the oldest messages past the count
    /// and byte bounds (the newest message is always kept).
    pub fn append(&mut self, data: Bytes) -> Id {
        self.head += 1;
        self.bytes += data.len();
        self.entries.push_back(data);
        while self.entries.len() > self.history
            || (self.bytes > self.history_bytes && self.entries.len() > 1)
        {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= old.len();
            }
        }
        self.head()
    }

    /// Appends a message whose id another store assigned (a node mirroring a Redis stream,
    /// where ids and epochs are decided in Redis). See [`Inserted`] for each case; only the
    /// next id of this epoch, or an id of another epoch, changes the log.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use pushwire_poll::{Config, Epoch, Id, Inserted, Log};
    /// let e = Epoch::new("redis1").unwrap();
    /// let mut log = Log::with_epoch(e, &Config::default());
    /// assert_eq!(log.insert(Id::new(e, 1), Bytes::from_static(b"a")), Inserted::Appended);
    /// assert_eq!(log.insert(Id::new(e, 1), Bytes::from_static(b"a")), Inserted::Duplicate);
    /// assert_eq!(log.insert(Id::new(e, 3), Bytes::from_static(b"c")), Inserted::Gap { expected: 2 });
    /// ```
    pub fn insert(&mut self, id: Id, data: Bytes) -> Inserted {
        if id.seq == 0 {
            // `E-0` names the position before the first message, never a message.
            return Inserted::Duplicate;
        }
        if id.epoch != self.epoch {
            self.reset(id.epoch, id.seq.saturating_sub(1));
            self.append(data);
            return Inserted::NewEpoch;
        }
        match id.seq.checked_sub(self.head) {
            Some(1) => {
                self.append(data);
                Inserted::Appended
            }
            Some(0) | None => Inserted::Duplicate,
            Some(_) => Inserted::Gap {
                expected: self.head + 1,
            },
        }
    }

    /// Empties the log and positions it at `epoch-head`: the next [`Log::append`] gets
    /// `head + 1`. For a mirror that starts following a store mid-stream, or gives up filling
    /// a gap; readers whose cursors fall before `head` are then told `missed`.
    pub fn reset(&mut self, epoch: Epoch, head: u64) {
        self.epoch = epoch;
        self.head = head;
        self.entries.clear();
        self.bytes = 0;
    }

    /// Whether a message after `cursor` exists, i.e. whether a read would return at least
    /// one message (or report `missed`). A long poll waits while this is false.
    pub fn has_after(&self, cursor: &Cursor) -> bool {
        let plan = cursor.plan(&self.retained());
        self.head > plan.after
    }

    /// Reads the messages after `cursor` under DESIGN.md's cursor rules (see
    /// [`Cursor::plan`]): at most `max` messages and [`Config::max_batch_bytes`] payload
    /// bytes (but at least one message when one exists and `max >= 1`).
    ///
    /// `next` is always the cursor for the next request, so reading again with it continues
    /// exactly after what this batch returned: nothing skipped, nothing repeated.
    pub fn read_after(&self, cursor: &Cursor, max: usize) -> Batch {
        let plan = cursor.plan(&self.retained());
        let mut batch = Batch::empty(&plan);
        if plan.after >= self.head {
            return batch;
        }
        // `plan.after >= first - 1` by construction of the plan, so this is the index of
        // the first message to deliver.
        let start = (plan.after + 1 - self.first()) as usize;
        let mut bytes = 0usize;
        for (i, data) in self.entries.iter().enumerate().skip(start).take(max) {
            if !batch.messages.is_empty() && bytes.saturating_add(data.len()) > self.max_batch_bytes
            {
                break;
            }
            bytes += data.len();
            let id = Id::new(self.epoch, self.first() + i as u64);
            batch.messages.push(Message::new(id, data.clone()));
            batch.next = id;
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Epoch {
        Epoch::new(s).unwrap()
    }

    fn log(history: usize, bytes: usize) -> Log {
        Log::with_epoch(
            ep("ep"),
            &Config::default()
                .with_history(history)
                .with_history_bytes(bytes),
        )
    }

    fn seqs(b: &Batch) -> Vec<u64> {
        b.messages.iter().map(|m| m.id.seq).collect()
    }

    fn after(seq: u64) -> Cursor {
        Cursor::After(Id::new(ep("ep"), seq))
    }

    #[test]
    fn ids_are_dense_from_one() {
        let mut l = log(10, 1 << 20);
        for n in 1..=25 {
            assert_eq!(l.append(Bytes::from(format!("m{n}"))), Id::new(ep("ep"), n));
        }
        assert_eq!(l.len(), 10);
        assert_eq!(l.head(), Id::new(ep("ep"), 25));
    }

    #[test]
    fn empty_log_answers_epoch_zero() {
        let l = log(10, 1 << 20);
        for c in [Cursor::Now, Cursor::Oldest, after(0)] {
            let b = l.read_after(&c, 100);
            assert!(b.messages.is_empty());
            assert_eq!(b.next.to_string(), "ep-0");
            assert!(!b.missed, "{c:?}");
        }
    }

    #[test]
    fn since_absent_is_from_now() {
        let mut l = log(10, 1 << 20);
        l.append(Bytes::from_static(b"a"));
        l.append(Bytes::from_static(b"b"));
        let b = l.read_after(&Cursor::Now, 100);
        assert!(b.messages.is_empty());
        assert_eq!(b.next, Id::new(ep("ep"), 2));
        assert!(!b.missed);
        l.append(Bytes::from_static(b"c"));
        assert_eq!(seqs(&l.read_after(&Cursor::After(b.next), 100)), [3]);
    }

    #[test]
    fn since_zero_is_oldest_retained_without_missed() {
        let mut l = log(3, 1 << 20);
        for _ in 0..5 {
            l.append(Bytes::from_static(b"x"));
        }
        let b = l.read_after(&Cursor::Oldest, 100);
        assert_eq!(seqs(&b), [3, 4, 5]);
        assert!(!b.missed);
        assert_eq!(b.next.seq, 5);
    }

    #[test]
    fn cursor_within_history_continues_exactly() {
        let mut l = log(10, 1 << 20);
        for _ in 0..6 {
            l.append(Bytes::from_static(b"x"));
        }
        let b = l.read_after(&after(2), 100);
        assert_eq!(seqs(&b), [3, 4, 5, 6]);
        assert!(!b.missed);
        let b = l.read_after(&after(6), 100);
        assert!(b.messages.is_empty());
        assert_eq!(b.next.seq, 6);
    }

    #[test]
    fn count_eviction_reports_missed_from_oldest() {
        let mut l = log(3, 1 << 20);
        for _ in 0..10 {
            l.append(Bytes::from_static(b"x"));
        }
        // Retained 8, 9, 10. A cursor at 7 missed nothing; at 6 it missed message 7.
        let b = l.read_after(&after(7), 100);
        assert_eq!((seqs(&b), b.missed), (vec![8, 9, 10], false));
        let b = l.read_after(&after(6), 100);
        assert_eq!((seqs(&b), b.missed), (vec![8, 9, 10], true));
        let b = l.read_after(&after(0), 100);
        assert_eq!((seqs(&b), b.missed), (vec![8, 9, 10], true));
    }

    #[test]
    fn byte_eviction_reports_missed_from_oldest() {
        // 10 bytes of history: four 3-byte messages keep only the last three.
        let mut l = log(100, 10);
        for _ in 0..4 {
            l.append(Bytes::from_static(b"abc"));
        }
        assert_eq!(l.len(), 3);
        assert_eq!(l.retained_bytes(), 9);
        let b = l.read_after(&after(0), 100);
        assert_eq!((seqs(&b), b.missed), (vec![2, 3, 4], true));
        let b = l.read_after(&after(1), 100);
        assert_eq!((seqs(&b), b.missed), (vec![2, 3, 4], false));
        // One message larger than the whole byte bound evicts everything else but stays.
        let big = l.append(Bytes::from(vec![b'z'; 50]));
        assert_eq!(l.len(), 1);
        let b = l.read_after(&after(4), 100);
        assert_eq!((seqs(&b), b.missed), (vec![big.seq], false));
        let b = l.read_after(&after(3), 100);
        assert!(b.missed);
    }

    #[test]
    fn other_epoch_is_missed_from_oldest() {
        let mut l = log(10, 1 << 20);
        l.append(Bytes::from_static(b"a"));
        l.append(Bytes::from_static(b"b"));
        let c = Cursor::After(Id::new(ep("old"), 1));
        let b = l.read_after(&c, 100);
        assert_eq!((seqs(&b), b.missed), (vec![1, 2], true));
        assert_eq!(b.next.epoch, ep("ep"));
    }

    #[test]
    fn restarted_log_gives_old_cursor_missed_and_new_messages() {
        let cfg = Config::default();
        let mut before = Log::new(&cfg);
        for _ in 0..5 {
            before.append(Bytes::from_static(b"old"));
        }
        let cursor = Cursor::After(before.read_after(&Cursor::Oldest, 100).next);
        // The server restarts: a new log, a new epoch, ids from 1 again.
        let mut after_restart = Log::new(&cfg);
        assert_ne!(after_restart.epoch(), before.epoch());
        let empty = after_restart.read_after(&cursor, 100);
        assert!(empty.missed && empty.messages.is_empty());
        after_restart.append(Bytes::from_static(b"new1"));
        after_restart.append(Bytes::from_static(b"new2"));
        let b = after_restart.read_after(&cursor, 100);
        assert!(b.missed, "an old cursor must never silently skip");
        assert_eq!(seqs(&b), [1, 2]);
        assert_eq!(b.messages[0].data, "new1");
        // Following `next` then continues without `missed`.
        let again = after_restart.read_after(&Cursor::After(b.next), 100);
        assert!(!again.missed && again.messages.is_empty());
    }

    #[test]
    fn cursor_ahead_of_head_is_missed_from_oldest() {
        let mut l = log(10, 1 << 20);
        l.append(Bytes::from_static(b"a"));
        l.append(Bytes::from_static(b"b"));
        let c = after(5);
        assert!(l.has_after(&c));
        let b = l.read_after(&c, 100);
        assert_eq!((seqs(&b), b.missed), (vec![1, 2], true));
        assert_eq!(b.next.seq, 2);
        // On an empty log there is nothing to deliver yet: a long poll waits, and its
        // timeout answer still says `missed`.
        let empty = log(10, 1 << 20);
        assert!(!empty.has_after(&c));
        let b = empty.read_after(&c, 100);
        assert!(b.messages.is_empty() && b.missed);
        assert_eq!(b.next.seq, 0);
    }

    #[test]
    fn max_and_batch_bytes_page_without_gap_or_repeat() {
        let cfg = Config::default().with_history(100).with_max_batch_bytes(10);
        let mut l = Log::with_epoch(ep("ep"), &cfg);
        for _ in 0..20 {
            l.append(Bytes::from_static(b"abcd"));
        }
        // 10 bytes per batch: two 4-byte messages.
        let mut cursor = Cursor::Oldest;
        let mut got = Vec::new();
        loop {
            let b = l.read_after(&cursor, 100);
            assert!(b.messages.len() <= 2);
            if b.messages.is_empty() {
                break;
            }
            got.extend(seqs(&b));
            cursor = Cursor::After(b.next);
        }
        assert_eq!(got, (1..=20).collect::<Vec<_>>());
        // `max` bounds the count; a message larger than the byte cap still goes alone.
        assert_eq!(seqs(&l.read_after(&after(3), 1)), [4]);
        l.append(Bytes::from(vec![0u8; 64]));
        assert_eq!(seqs(&l.read_after(&after(20), 100)), [21]);
        // max 0: nothing, and the cursor is handed back unchanged.
        let b = l.read_after(&after(3), 0);
        assert!(b.messages.is_empty());
        assert_eq!(b.next.seq, 3);
    }

    #[test]
    fn replay_missed_batch_pages_report_missed_only_first() {
        let mut l = log(5, 1 << 20);
        for _ in 0..10 {
            l.append(Bytes::from_static(b"x"));
        }
        let b = l.read_after(&after(1), 2);
        assert_eq!((seqs(&b), b.missed), (vec![6, 7], true));
        let b = l.read_after(&Cursor::After(b.next), 2);
        assert_eq!((seqs(&b), b.missed), (vec![8, 9], false));
    }

    #[test]
    fn insert_mirrors_ids_assigned_elsewhere() {
        let e1 = ep("r1");
        let mut l = Log::with_epoch(e1, &Config::default().with_history(3));
        assert_eq!(
            l.insert(Id::new(e1, 1), Bytes::from_static(b"a")),
            Inserted::Appended
        );
        assert_eq!(
            l.insert(Id::new(e1, 2), Bytes::from_static(b"b")),
            Inserted::Appended
        );
        assert_eq!(
            l.insert(Id::new(e1, 2), Bytes::from_static(b"b")),
            Inserted::Duplicate
        );
        assert_eq!(
            l.insert(Id::new(e1, 1), Bytes::from_static(b"a")),
            Inserted::Duplicate
        );
        assert_eq!(
            l.insert(Id::new(e1, 5), Bytes::from_static(b"e")),
            Inserted::Gap { expected: 3 }
        );
        assert_eq!(l.head().seq, 2, "a gap inserts nothing");
        // The store lost the topic: new epoch, possibly not starting at 1.
        let e2 = ep("r2");
        assert_eq!(
            l.insert(Id::new(e2, 7), Bytes::from_static(b"g")),
            Inserted::NewEpoch
        );
        assert_eq!(l.epoch(), e2);
        let b = l.read_after(&Cursor::After(Id::new(e1, 2)), 10);
        assert!(b.missed);
        assert_eq!(seqs(&b), [7]);
        assert_eq!(b.messages[0].id, Id::new(e2, 7));
        // A mirror positioned mid-stream.
        l.reset(e2, 100);
        assert!(l.is_empty());
        assert_eq!(
            l.insert(Id::new(e2, 101), Bytes::from_static(b"x")),
            Inserted::Appended
        );
        let b = l.read_after(&Cursor::After(Id::new(e2, 50)), 10);
        assert_eq!((seqs(&b), b.missed), (vec![101], true));
    }

    #[test]
    fn text_and_binary() {
        let id = Id::new(ep("ep"), 1);
        assert_eq!(
            Message::new(id, Bytes::from_static(b"hi")).text(),
            Some("hi")
        );
        assert_eq!(Message::new(id, Bytes::from_static(b"\xff")).text(), None);
    }
}
