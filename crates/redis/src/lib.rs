//! # pushwire-redis
//!
//! A [`Hub`] for several pushwire nodes sharing one set of topics through Redis.
//!
//! - **Publish** is one Lua script ([`PUBLISH_LUA`], run by EVALSHA with EVAL as fallback):
//!   it creates the topic's epoch if the topic's keys are missing, assigns the next sequence
//!   number, `XADD`s to the topic's stream (trimmed to at least `history` entries) and
//!   `PUBLISH`es to the node-shared channel. `POST /publish` answers only after Redis
//!   stored the message. Publishes that arrive while a call is in flight are stored together
//!   by the next one (one round trip, one script run, one channel message per batch).
//! - **Fan-out**: one Redis subscription per node (one shared channel). Each node keeps a
//!   mirror of every topic it serves; a message from Redis becomes one `Arc<Message>` (its
//!   SSE event and WebSocket frame encoded once) shared by all local subscribers. A mirror
//!   accepts only the next sequence number: a gap, a new epoch or a reconnect to Redis is
//!   first filled from the stream ([`SYNC_LUA`]), so local subscribers never see a gap, a
//!   duplicate or a reordering.
//! - **Reads** (`since`, `Last-Event-ID`, short and long polls) first bring the mirror up to
//!   Redis' head (one round trip), so a publish acknowledged on node A is readable on node B.
//! - **Failures**: Redis unreachable → publishes fail with [`HubError::Unavailable`] (503 +
//!   `Retry-After`) within [`RedisConfig::command_timeout`]; subscribers stay connected; the
//!   node reconnects with backoff capped at 1 s and catches up from the streams.
//!
//! ```no_run
//! use std::sync::Arc;
//! use pushwire_redis::{RedisConfig, RedisHub};
//! use pushwire_server::{Config, Server, shutdown_signal};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let cfg = Config::default();
//!     let hub = RedisHub::start(RedisConfig::new("redis://127.0.0.1:6379/0", cfg.history))?;
//!     let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
//!     Server::new(cfg).with_hub(hub).run(listener, shutdown_signal()).await?;
//!     Ok(())
//! }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod mirror;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt as _;
use pushwire_poll::{Cursor, Epoch};
use pushwire_server::hub::{
    Batch, Hub, HubError, HubFuture, HubHealth, Message, Payload, QueueLimits, Subscription,
};
use redis::aio::ConnectionManager;

use crate::mirror::{Mirror, lock};

/// The publish script: stores a batch of publishes (one or more, any topics) in one atomic
/// step. `KEYS`: for message *i*, its topic's meta hash (`e` epoch, `s` last seq) at
/// `2i-1` and its stream at `2i`. `ARGV`: fresh epoch, history, channel, then for message *i*
/// its kind (`t`/`b`), topic and payload at `3i+1`, `3i+2`, `3i+3`. Returns
/// `{epoch1, seq1, epoch2, seq2, ...}`.
///
/// A missing meta hash means a new topic or a Redis that lost it: a fresh epoch starts (the
/// stream is dropped with it), so a sequence number is never reused within an epoch. Stream
/// entry ids are `SEQ-1`, so `XRANGE` addresses messages by sequence number. The whole batch
/// is announced by ONE `PUBLISH` (records `KIND EPOCH-SEQ TOPIC LEN\nPAYLOAD` back to back):
/// every node wakes and decodes once per batch, not once per message.
pub const PUBLISH_LUA: &str = r#"
local out, live = {}, {}
for i = 1, #KEYS / 2 do
  local meta, stream = KEYS[2 * i - 1], KEYS[2 * i]
  local k, topic, d = ARGV[3 * i + 1], ARGV[3 * i + 2], ARGV[3 * i + 3]
  local e = redis.call('HGET', meta, 'e')
  if not e then
    e = ARGV[1]
    redis.call('DEL', stream)
    redis.call('HSET', meta, 'e', e, 's', 0)
  end
  local s = redis.call('HINCRBY', meta, 's', 1)
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[2], s .. '-1', 'd', d, 'k', k)
  out[2 * i - 1] = e
  out[2 * i] = s
  live[i] = k .. ' ' .. e .. '-' .. s .. ' ' .. topic .. ' ' .. #d .. '\n' .. d
end
redis.call('PUBLISH', ARGV[3], table.concat(live))
return out
"#;

/// The catch-up script. `KEYS[1]` the topic's meta hash, `KEYS[2]` its stream; `ARGV`: fresh epoch (used only if the
/// topic is missing: reading a topic fixes its epoch, so `E-0` cursors handed out before the
/// first publish stay valid), the mirror's epoch, the mirror's head, the most entries to
/// return. Returns `{epoch, seq, seq1, kind1, data1, ...}`: the newest entries after the
/// mirror's head (all of the newest if the epoch differs), one consistent snapshot.
pub const SYNC_LUA: &str = r#"
local e = redis.call('HGET', KEYS[1], 'e')
if not e then
  e = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', e, 's', 0)
end
local s = tonumber(redis.call('HGET', KEYS[1], 's'))
local from = tonumber(ARGV[3]) + 1
if e ~= ARGV[2] then from = 1 end
local max = tonumber(ARGV[4])
if s - from + 1 > max then from = s - max + 1 end
local out = {e, tostring(s)}
if from <= s then
  local r = redis.call('XRANGE', KEYS[2], tostring(from), tostring(s))
  for _, entry in ipairs(r) do
    local seq = string.match(entry[1], '^(%d+)')
    local d, k = '', 'b'
    local f = entry[2]
    for i = 1, #f, 2 do
      if f[i] == 'd' then d = f[i + 1] elseif f[i] == 'k' then k = f[i + 1] end
    end
    table.insert(out, seq)
    table.insert(out, k)
    table.insert(out, d)
  end
end
return out
"#;

/// Why a [`RedisHub`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisHubError {
    /// The URL is not a usable `redis://HOST:PORT/DB` URL.
    #[error("invalid redis url")]
    Url,
    /// A limit in [`RedisConfig`] is zero or too small.
    #[error("invalid redis hub limit: {0}")]
    Limit(&'static str),
}

/// Settings of a [`RedisHub`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// `redis://[:PASSWORD@]HOST:PORT/DB`.
    pub url: String,
    /// Messages kept per topic: the stream is trimmed to at least this many (`XADD MAXLEN ~`),
    /// and each node's mirror keeps exactly this many. Default 1024 (`--history`). Bounds
    /// Redis memory and each node's memory per topic.
    pub history: usize,
    /// Topics mirrored per node at most (idle ones are dropped first). Default 10,000.
    /// Stops a client that invents topic names from growing a node without bound.
    pub max_topics: usize,
    /// Key and channel prefix, so several deployments can share one Redis. Default `pw`.
    pub prefix: String,
    /// Longest wait for one Redis command before the call fails with
    /// [`HubError::Unavailable`]. Default 2 s (the contract: 503 within 5 s).
    pub command_timeout: Duration,
    /// Longest pause between two reconnect attempts. Default 1 s.
    pub max_backoff: Duration,
    /// Publishes stored by one script call at most. Default 64. Concurrent publishes (any
    /// topics) waiting while the previous call is in flight go to Redis together: one round
    /// trip, one script run and one `PUBLISH` for all of them. Bounds the script's size and
    /// how long one call holds Redis.
    pub max_batch: usize,
    /// Payload bytes stored by one script call at most (a single larger publish still goes
    /// alone). Default 1 MiB. Bounds the memory of one call on both sides.
    pub max_batch_bytes: usize,
}

impl RedisConfig {
    /// Defaults with the given URL and history.
    pub fn new(url: impl Into<String>, history: usize) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            history,
            max_topics: 10_000,
            prefix: "pw".into(),
            command_timeout: Duration::from_secs(2),
            max_backoff: Duration::from_secs(1),
            max_batch: 64,
            max_batch_bytes: 1 << 20,
        }
    }

    /// Checks every limit.
    pub fn validate(&self) -> Result<(), RedisHubError> {
        if self.history == 0 {
            return Err(RedisHubError::Limit("history"));
        }
        if self.max_topics == 0 {
            return Err(RedisHubError::Limit("max_topics"));
        }
        if self.command_timeout.is_zero() || self.command_timeout > Duration::from_secs(4) {
            return Err(RedisHubError::Limit("command_timeout"));
        }
        if self.max_batch == 0 {
            return Err(RedisHubError::Limit("max_batch"));
        }
        if self.max_batch_bytes == 0 {
            return Err(RedisHubError::Limit("max_batch_bytes"));
        }
        if self.max_backoff.is_zero() {
            return Err(RedisHubError::Limit("max_backoff"));
        }
        if !(self.url.starts_with("redis://") || self.url.starts_with("redis+unix://")) {
            return Err(RedisHubError::Url);
        }
        Ok(())
    }
}

/// The Redis-backed [`Hub`]. See the crate docs.
pub struct RedisHub {
    cfg: RedisConfig,
    client: redis::Client,
    conn: ConnectionManager,
    queue: Arc<PublishQueue>,
    sync: redis::Script,
    channel: String,
    mirrors: Mutex<HashMap<Arc<str>, Arc<Mirror>>>,
    up: AtomicBool,
    published: Arc<AtomicU64>,
    slow: Arc<AtomicU64>,
    stop: tokio::sync::Notify,
}

impl std::fmt::Debug for RedisHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHub")
            .field("channel", &self.channel)
            .field("up", &self.up.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RedisHub {
    /// Starts a hub: returns at once, whether or not Redis is reachable, and spawns the
    /// node's one subscription task, which connects, retries with backoff capped at
    /// [`RedisConfig::max_backoff`], and catches every mirror up after each (re)connect.
    /// Dropping every `Arc` of the hub ends the task at its next wake-up.
    ///
    /// It also starts the node's publish thread (`pushwire-redis-publish`, a current-thread
    /// runtime with its own Redis connection) that stores publishes in batches; it ends when
    /// the hub is dropped.
    ///
    /// Must be called inside a tokio runtime (it spawns; tokio panics otherwise). Errors only
    /// for an invalid [`RedisConfig`] or URL.
    pub fn start(cfg: RedisConfig) -> Result<Arc<RedisHub>, RedisHubError> {
        cfg.validate()?;
        use redis::IntoConnectionInfo as _;
        // TCP_NODELAY: redis-rs leaves Nagle on by default, and with several calls in flight
        // on the multiplexed connection a small command could wait for the previous one's
        // ACK (delayed ACK: up to 40 ms) — the tokio-tungstenite #250 pitfall.
        let info = cfg
            .url
            .as_str()
            .into_connection_info()
            .map_err(|_| RedisHubError::Url)?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info).map_err(|_| RedisHubError::Url)?;
        let mcfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(cfg.command_timeout))
            .set_response_timeout(Some(cfg.command_timeout))
            .set_number_of_retries(1)
            .set_max_delay(cfg.max_backoff);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), mcfg.clone())
            .map_err(|_| RedisHubError::Url)?;
        // The publish task's own connection, driven on its own thread (below).
        let pump_conn = ConnectionManager::new_lazy_with_config(client.clone(), mcfg)
            .map_err(|_| RedisHubError::Url)?;
        let queue = Arc::new(PublishQueue::default());
        let published = Arc::new(AtomicU64::new(0));
        let channel = format!("{}:pub", cfg.prefix);
        let pump = Pump {
            queue: queue.clone(),
            conn: pump_conn,
            script: redis::Script::new(PUBLISH_LUA),
            channel: channel.clone(),
            published: published.clone(),
            cfg: cfg.clone(),
        };
        spawn_publish_thread(pump);
        let hub = Arc::new(RedisHub {
            channel,
            client,
            conn,
            queue,
            sync: redis::Script::new(SYNC_LUA),
            mirrors: Mutex::new(HashMap::new()),
            up: AtomicBool::new(false),
            published,
            slow: Arc::new(AtomicU64::new(0)),
            stop: tokio::sync::Notify::new(),
            cfg,
        });
        tokio::spawn(subscription_task(Arc::downgrade(&hub)));
        Ok(hub)
    }

    /// Whether the node's subscription to Redis is up (what `/healthz` reports).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Stops the node's subscription task (for an embedding program winding down): no more
    /// live messages arrive from other nodes; publishes and reads still go to Redis.
    pub fn shutdown(&self) {
        self.stop.notify_one();
    }

    fn keys(&self, topic: &str) -> (String, String) {
        (
            format!("{}:t:{topic}:m", self.cfg.prefix),
            format!("{}:t:{topic}:s", self.cfg.prefix),
        )
    }

    /// The node's mirror of `topic`, created (empty, not yet synced) if needed.
    fn mirror(&self, topic: &str) -> Result<Arc<Mirror>, HubError> {
        let mut mirrors = lock(&self.mirrors);
        if let Some(m) = mirrors.get(topic) {
            return Ok(m.clone());
        }
        if mirrors.len() >= self.cfg.max_topics {
            let victim = mirrors
                .iter()
                .filter(|(_, m)| Arc::strong_count(m) == 1 && m.is_idle())
                .min_by_key(|(_, m)| m.last_used())
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => {
                    mirrors.remove(&k);
                }
                None => return Err(HubError::TooManyTopics),
            }
        }
        let m = Arc::new(Mirror::new(self.cfg.history, self.slow.clone()));
        mirrors.insert(topic.into(), m.clone());
        Ok(m)
    }

    /// Runs a script within [`RedisConfig::command_timeout`]. `Err(true)`: timed out (Redis
    /// slow or hung: the command may still run later); `Err(false)`: failed at once.
    async fn run<T: redis::FromRedisValue>(
        &self,
        inv: redis::ScriptInvocation<'_>,
    ) -> Result<T, bool> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.cfg.command_timeout, inv.invoke_async(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(false),
            Err(_) => Err(true),
        }
    }

    /// Brings `topic`'s mirror up to Redis' head: one script call, then the missing entries
    /// inserted in order. Creates the topic's epoch in Redis if it has none.
    async fn sync(&self, topic: &str, m: &Mirror) -> Result<(), HubError> {
        let arrived = m.syncs_started.load(Ordering::Acquire);
        let _gate = m.sync_gate.lock().await;
        if m.syncs_started.load(Ordering::Acquire) > arrived {
            // A catch-up that started after this call arrived has finished: the mirror
            // already holds everything Redis had acknowledged by then.
            return Ok(());
        }
        m.syncs_started.fetch_add(1, Ordering::AcqRel);
        let (epoch, head) = m.position();
        let (meta, stream) = self.keys(topic);
        let fresh = Epoch::random();
        let mine = epoch.map_or_else(|| "-".to_string(), |e| e.as_str().to_string());
        let invocation = || {
            let mut inv = self.sync.prepare_invoke();
            inv.key(&meta)
                .key(&stream)
                .arg(fresh.as_str())
                .arg(&mine)
                .arg(head)
                .arg(self.cfg.history);
            inv
        };
        // The script only reads (or creates a missing epoch, which is idempotent), so it is
        // retried once: the first command after Redis restarted fails on the dead connection
        // while the manager reconnects, and a read must not then serve a stale mirror.
        // (Not after a time-out: a hung Redis would only double the wait.)
        let v: redis::Value = match self.run(invocation()).await {
            Ok(v) => v,
            Err(false) => self
                .run(invocation())
                .await
                .map_err(|_| HubError::Unavailable)?,
            Err(true) => return Err(HubError::Unavailable),
        };
        let snap = wire::Snapshot::parse(v).ok_or(HubError::Unavailable)?;
        m.apply(snap);
        Ok(())
    }

    /// Sync before serving a read; with Redis down, a mirror that was synced before serves
    /// what it has (subscribers stay connected), a never-synced one cannot answer.
    async fn synced(&self, topic: &str) -> Result<Arc<Mirror>, HubError> {
        let m = self.mirror(topic)?;
        match self.sync(topic, &m).await {
            Ok(()) => Ok(m),
            Err(e) if m.position().0.is_none() => Err(e),
            Err(_) => Ok(m),
        }
    }

    async fn publish_impl(&self, topic: &str, payload: Payload) -> Result<Arc<Message>, HubError> {
        let mirror = self.mirror(topic)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock(&self.queue.pending).push_back(Pending {
            topic: topic.into(),
            payload,
            mirror,
            tx,
        });
        self.queue.ready.notify_one();
        // Answered by the publish task once Redis stored it. Given up after
        // `command_timeout` (503): if it was still queued it is never sent; if it was already
        // sent it may still be stored, and then appears exactly once like any other message.
        match tokio::time::timeout(self.cfg.command_timeout, rx).await {
            Ok(Ok(r)) => r,
            _ => Err(HubError::Unavailable),
        }
    }

    async fn wait_impl(
        &self,
        topic: &str,
        since: Cursor,
        max: usize,
        deadline: Instant,
    ) -> Result<Batch, HubError> {
        let m = self.synced(topic).await?;
        m.wait(since, max, deadline).await
    }

    /// One message from the shared channel (one publish batch of some node): each record is
    /// offered to its topic's mirror if this node has one; anything out of order triggers a
    /// catch-up from the stream. Records this node published itself are already in its
    /// mirror and cost a lookup, no copy.
    async fn on_message(&self, payload: &[u8]) {
        let mut rest = payload;
        while let Some(msg) = wire::Live::next(&mut rest) {
            let m = lock(&self.mirrors).get(msg.topic).cloned();
            let Some(m) = m else { continue };
            if m.holds(msg.id) {
                continue;
            }
            let message = Arc::new(Message::new(
                msg.id.epoch,
                msg.id.seq,
                Payload::new(Bytes::copy_from_slice(msg.data), msg.kind),
            ));
            if !m.offer(&message) {
                let _ = self.sync(msg.topic, &m).await;
            }
        }
    }

    async fn sync_all(&self) {
        let all: Vec<(Arc<str>, Arc<Mirror>)> = lock(&self.mirrors)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (topic, m) in all {
            let _ = self.sync(&topic, &m).await;
        }
    }
}

/// A publish waiting for the publish task.
struct Pending {
    topic: Arc<str>,
    payload: Payload,
    mirror: Arc<Mirror>,
    tx: tokio::sync::oneshot::Sender<Result<Arc<Message>, HubError>>,
}

/// Publishes waiting to be stored. Its length is bounded by the publishes in progress,
/// i.e. by the server's connection limit: each waits for its answer.
#[derive(Default)]
struct PublishQueue {
    pending: Mutex<VecDeque<Pending>>,
    ready: tokio::sync::Notify,
    closed: AtomicBool,
}

impl Drop for RedisHub {
    fn drop(&mut self) {
        self.queue.closed.store(true, Ordering::Release);
        self.queue.ready.notify_one();
    }
}

/// What the publish task owns.
struct Pump {
    queue: Arc<PublishQueue>,
    conn: ConnectionManager,
    script: redis::Script,
    channel: String,
    published: Arc<AtomicU64>,
    cfg: RedisConfig,
}

impl Pump {
    /// The next batch: publishes in arrival order, at most `max_batch` of them and
    /// `max_batch_bytes` of payload (the first always), skipping those whose caller gave up.
    fn take(&self) -> Vec<Pending> {
        let mut q = lock(&self.queue.pending);
        let mut batch = Vec::new();
        let mut bytes = 0usize;
        while let Some(p) = q.front() {
            let len = p.payload.data.len();
            if !batch.is_empty()
                && (batch.len() >= self.cfg.max_batch
                    || bytes.saturating_add(len) > self.cfg.max_batch_bytes)
            {
                break;
            }
            let Some(p) = q.pop_front() else { break };
            if p.tx.is_closed() {
                continue;
            }
            bytes = bytes.saturating_add(len);
            batch.push(p);
        }
        batch
    }

    /// One script call for the whole batch; `(epoch, seq)` per publish, in order.
    async fn store(&self, batch: &[Pending]) -> Result<Vec<(Epoch, u64)>, HubError> {
        let mut inv = self.script.prepare_invoke();
        let prefix = &self.cfg.prefix;
        for p in batch {
            let topic = &p.topic;
            inv.key(format!("{prefix}:t:{topic}:m"))
                .key(format!("{prefix}:t:{topic}:s"));
        }
        inv.arg(Epoch::random().as_str())
            .arg(self.cfg.history)
            .arg(&self.channel);
        for p in batch {
            inv.arg(wire::kind_tag(p.payload.kind))
                .arg(&*p.topic)
                .arg(&p.payload.data[..]);
        }
        let mut conn = self.conn.clone();
        // Never retried: a call that failed may still have been stored, and a retry could
        // store it twice.
        let v: redis::Value =
            tokio::time::timeout(self.cfg.command_timeout, inv.invoke_async(&mut conn))
                .await
                .map_err(|_| HubError::Unavailable)?
                .map_err(|_| HubError::Unavailable)?;
        wire::stored_ids(v, batch.len()).ok_or(HubError::Unavailable)
    }
}

/// Runs the publish task on a thread of its own, with its own current-thread runtime, so the
/// Redis reply is read and answered at once instead of queueing behind the node's fan-out
/// work: on the node's runtime, each publish waited for the connection task, then the publish
/// task, then the caller, each behind up to a thousand subscriber writes (the `cluster`
/// benchmark: one pushwire node on one core reached 44–51 % of the in-memory hub that way).
/// Falls back to the caller's runtime if the thread cannot start.
fn spawn_publish_thread(pump: Pump) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(rt) = rt else {
        tokio::spawn(publish_task(pump));
        return;
    };
    let slot = Arc::new(Mutex::new(Some(pump)));
    let theirs = slot.clone();
    let started = std::thread::Builder::new()
        .name("pushwire-redis-publish".into())
        .spawn(move || {
            if let Some(pump) = lock(&theirs).take() {
                rt.block_on(publish_task(pump));
            }
        });
    if started.is_err()
        && let Some(pump) = lock(&slot).take()
    {
        tokio::spawn(publish_task(pump));
    }
}

/// The node's publish task: takes whatever publishes are waiting, stores them with one
/// script call, hands every local mirror its messages in Redis' order (so they append at
/// once, without a catch-up), then answers each caller. While one call is in flight the
/// next publishes gather: under load each round trip carries many.
async fn publish_task(pump: Pump) {
    loop {
        let notified = pump.queue.ready.notified();
        let batch = pump.take();
        if batch.is_empty() {
            if pump.queue.closed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
            continue;
        }
        match pump.store(&batch).await {
            Ok(ids) => {
                // Callers first: woken before the subscribers the offers below wake, each
                // answers its client and sends the next publish while the node's fan-out of
                // this batch runs, so the round trip and the fan-out overlap (a pipelining
                // publisher otherwise waited for both, one after the other, per message).
                let mut stored = Vec::with_capacity(batch.len());
                for (p, (epoch, seq)) in batch.into_iter().zip(ids) {
                    let msg = Arc::new(Message::new(epoch, seq, p.payload));
                    pump.published.fetch_add(1, Ordering::Relaxed);
                    let _ = p.tx.send(Ok(msg.clone()));
                    stored.push((p.mirror, msg));
                }
                for (mirror, msg) in stored {
                    // Next in line: local subscribers get it now. Otherwise (other nodes'
                    // messages not yet seen, or a mirror never synced) the subscription task
                    // delivers it in stream order, filling gaps from the stream.
                    mirror.offer(&msg);
                }
            }
            Err(e) => {
                for p in batch {
                    let _ = p.tx.send(Err(e.clone()));
                }
            }
        }
    }
}

/// The node's one subscription: connect, subscribe, catch every mirror up, then feed live
/// messages; on any failure mark Redis down and retry with backoff capped at `max_backoff`.
async fn subscription_task(hub: std::sync::Weak<RedisHub>) {
    let mut backoff = Duration::from_millis(50);
    let mut said_down = false;
    loop {
        let Some(h) = hub.upgrade() else { return };
        let attempt = async {
            let mut ps = h.client.get_async_pubsub().await?;
            ps.subscribe(&h.channel).await?;
            Ok::<_, redis::RedisError>(ps)
        };
        let connected = tokio::time::timeout(h.cfg.command_timeout, attempt).await;
        let ps = match connected {
            Ok(Ok(ps)) => ps,
            other => {
                h.up.store(false, Ordering::Release);
                if !said_down {
                    let why = match other {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".into(),
                    };
                    eprintln!("pushwire-redis: redis unreachable ({why}); retrying");
                    said_down = true;
                }
                let max = h.cfg.max_backoff;
                drop(h);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max);
                continue;
            }
        };
        let mut stream = ps.into_on_message();
        // Subscribed first, then caught up: a message published in between arrives live and
        // is either appended or found already present, never lost.
        h.up.store(true, Ordering::Release);
        h.sync_all().await;
        if said_down {
            eprintln!("pushwire-redis: redis reachable again; caught up");
            said_down = false;
        }
        backoff = Duration::from_millis(50);
        loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => h.on_message(msg.get_payload_bytes()).await,
                    None => break,
                },
                _ = h.stop.notified() => {
                    h.up.store(false, Ordering::Release);
                    return;
                }
            }
        }
        h.up.store(false, Ordering::Release);
        eprintln!("pushwire-redis: lost the redis subscription; reconnecting");
    }
}

impl Hub for RedisHub {
    fn publish<'a>(&'a self, topic: &'a str, payload: Payload) -> HubFuture<'a, Arc<Message>> {
        Box::pin(self.publish_impl(topic, payload))
    }

    fn read<'a>(&'a self, topic: &'a str, since: Cursor, max: usize) -> HubFuture<'a, Batch> {
        Box::pin(async move {
            let m = self.synced(topic).await?;
            m.read(since, max)
        })
    }

    fn wait<'a>(
        &'a self,
        topic: &'a str,
        since: Cursor,
        max: usize,
        deadline: Instant,
    ) -> HubFuture<'a, Batch> {
        Box::pin(self.wait_impl(topic, since, max, deadline))
    }

    fn subscribe<'a>(
        &'a self,
        topic: &'a str,
        since: Cursor,
        limits: QueueLimits,
    ) -> HubFuture<'a, Subscription> {
        Box::pin(async move {
            let m = self.synced(topic).await?;
            m.subscribe(since, limits)
        })
    }

    fn health(&self) -> HubHealth {
        let mirrors = lock(&self.mirrors);
        HubHealth {
            kind: "redis",
            backend: Some(if self.is_up() { "up" } else { "down" }),
            topics: mirrors.len(),
            subscribers: mirrors.values().map(|m| m.subscriber_count()).sum(),
            slow_disconnects: self.slow.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
        }
    }
}
