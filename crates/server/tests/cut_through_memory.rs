//! `/echo`'s cut-through under backpressure, alone in its test binary because it reads the
//! process's memory: a client announces a 16 MiB binary frame, sends its payload in small
//! writes and never reads the echo. The server reads small parts while its writes are stuck;
//! each part queued as a slice of the read buffer kept that buffer (up to 1 MiB) alive and
//! made the next read allocate another, so memory grew by 1 MiB per read up to the write
//! queue's limit (64 KiB of payload: +63 MiB for 1 KiB reads). Small parts are copied now.

mod common;
use common::upgrade_echo;
use std::io::Write;
use std::time::Duration;

use pushwire_server::{Config, Server};
use tokio::net::TcpSocket;

/// A field of /proc/self/status, in KiB.
fn status_kib(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_frame_to_a_client_that_never_reads_holds_little_memory() {
    let listener = TcpSocket::new_v4().unwrap();
    // Accepted sockets inherit it: the kernel takes little of the echo, so the server's own
    // write queue fills after a few KiB.
    listener.set_send_buffer_size(4096).unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = listener.listen(16).unwrap();
    let mut cfg = Config::default();
    cfg.addr = listener.local_addr().unwrap();
    cfg.ws_ping_interval = Duration::from_secs(120);
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(Server::new(cfg.clone()).run(listener, async {
        let _ = rx.await;
    }));

    let client = TcpSocket::new_v4().unwrap();
    client.set_recv_buffer_size(4096).unwrap();
    let mut s = client.connect(cfg.addr).await.unwrap();
    upgrade_echo(&mut s).await;
    let s = s.into_std().unwrap();
    s.set_nonblocking(false).unwrap();
    s.set_nodelay(true).unwrap();
    // Once the server stops reading (its queue full, as it should), writes block: the
    // timeout ends the trickle.
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    // The writer thread allocates before the first measurement: a thread's first
    // allocation reserves its own malloc arena (64 MiB of address space).
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let chunk = vec![7u8; 1024];
        let _ = ready_tx.send(());
        let _ = go_rx.recv();
        let mut w = &s;
        // A masked binary frame of 16 MiB, key 0 (the payload goes as is).
        let mut h = vec![0x82u8, 0x80 | 127];
        h.extend_from_slice(&(16u64 << 20).to_be_bytes());
        h.extend_from_slice(&[0; 4]);
        w.write_all(&h).unwrap();
        let mut sent = 0usize;
        for _ in 0..2048 {
            if w.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
            std::thread::sleep(Duration::from_micros(100));
        }
        (s, sent)
    });
    ready_rx.recv().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let vm0 = status_kib("VmSize:");
    go_tx.send(()).unwrap();
    // Not `spawn_blocking`: a new blocking thread would reserve an arena of its own.
    while !writer.is_finished() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (s, sent) = writer.join().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let grew = status_kib("VmSize:").saturating_sub(vm0);
    drop(s);
    let _ = stop.send(());
    let r = tokio::time::timeout(Duration::from_secs(10), task).await;
    assert!(r.is_ok(), "server did not stop");
    // At most HIGH_WATER / ZERO_COPY_MIN (16) read buffers may be held, plus slack for the
    // runtime; 1 KiB parts queued as slices held 64.
    assert!(
        grew < 40 * 1024,
        "server address space grew by {} MiB for {} KiB trickled",
        grew / 1024,
        sent / 1024
    );
    assert!(
        sent >= 64 * 1024,
        "only {sent} bytes went out before the writes blocked"
    );
}
