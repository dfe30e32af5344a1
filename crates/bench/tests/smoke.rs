//! Every workload at tiny size against an in-process pushwire server: the load generator
//! connects, speaks each protocol, counts what it asked for, and reads this process's CPU
//! time and memory through `/proc`.

use std::net::SocketAddr;
use std::time::Duration;

use pushwire_bench::workloads::{self, HttpGet, Idle, IdleKind, LongPoll, SseFanout, WsEcho};
use pushwire_bench::{Measurement, Probe};

async fn server() -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(pushwire_server::run(
        listener,
        pushwire_server::Config::default(),
        async move {
            let _ = rx.await;
        },
    ));
    (addr, tx)
}

fn probe() -> Probe {
    Probe::pid(std::process::id())
}

const SHORT: Duration = Duration::from_millis(300);

fn check_throughput(m: &Measurement) {
    println!("{}", m.table());
    assert!(m.ops > 0, "{}: nothing measured", m.name);
    assert_eq!(m.errors, 0, "{}", m.name);
    assert_eq!(m.latency.count as u64, m.ops);
    assert!(m.latency.p50 <= m.latency.p99 && m.latency.p99 <= m.latency.max);
    // In-process, the "server" is this test process, whose threads come and go: only check
    // that a figure was read.
    assert!(m.server_cpu_ns.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_echo_text_and_binary_round_trip() {
    let (addr, _stop) = server().await;
    for (size, binary) in [(16, false), (20_000, true)] {
        let o = WsEcho {
            conns: 3,
            in_flight: 4,
            size,
            binary,
            warmup: Duration::from_millis(50),
            duration: SHORT,
            ..WsEcho::default()
        };
        let m = tokio::time::timeout(
            Duration::from_secs(10),
            workloads::ws_echo(addr, &o, &probe()),
        )
        .await
        .unwrap()
        .unwrap();
        check_throughput(&m);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_plain_and_pipelined() {
    let (addr, _stop) = server().await;
    for depth in [1, 8] {
        let o = HttpGet {
            conns: 3,
            depth,
            warmup: Duration::from_millis(50),
            duration: SHORT,
            ..HttpGet::default()
        };
        let m = tokio::time::timeout(
            Duration::from_secs(10),
            workloads::http_get(addr, &o, &probe()),
        )
        .await
        .unwrap()
        .unwrap();
        check_throughput(&m);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_fanout_delivers_every_event_in_order() {
    let (addr, _stop) = server().await;
    for rate in [None, Some(200.0)] {
        let o = SseFanout {
            subscribers: 5,
            rate,
            warmup: Duration::from_millis(50),
            duration: SHORT,
            ..SseFanout::default()
        };
        let m = tokio::time::timeout(
            Duration::from_secs(10),
            workloads::sse_fanout(addr, &o, &probe()),
        )
        .await
        .unwrap()
        .unwrap();
        check_throughput(&m);
        assert_eq!(m.gaps, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_answers_every_waiter_each_round() {
    let (addr, _stop) = server().await;
    let o = LongPoll {
        waiters: 10,
        rounds: 2,
        settle: Duration::from_millis(50),
    };
    let m = tokio::time::timeout(
        Duration::from_secs(20),
        workloads::long_poll(addr, &o, &probe()),
    )
    .await
    .unwrap()
    .unwrap();
    println!("{}", m.table());
    assert_eq!(m.ops, 20);
    assert_eq!(m.gaps, 0);
    assert_eq!(m.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_holds_each_kind_and_reads_rss() {
    let (addr, _stop) = server().await;
    for kind in [IdleKind::WebSocket, IdleKind::Sse, IdleKind::LongPoll] {
        let o = Idle {
            conns: 20,
            kind,
            settle: Duration::from_millis(50),
        };
        let m = tokio::time::timeout(Duration::from_secs(10), workloads::idle(addr, &o, &probe()))
            .await
            .unwrap()
            .unwrap();
        println!("{}", m.table());
        assert_eq!(m.conns, 20);
        assert!(m.rss_before.is_some() && m.rss_after.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn techniques_deliver_every_message_to_every_client() {
    use pushwire_bench::techniques::{self, Technique, Techniques};
    let (addr, _stop) = server().await;
    let o = Techniques {
        clients: 3,
        seconds: 0.5,
        rate: 10.0,
    };
    let mut rows = Vec::new();
    for t in Technique::ALL {
        let row = tokio::time::timeout(
            Duration::from_secs(20),
            techniques::run_one(addr, &probe(), t, &o),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(row.published, 5);
        assert_eq!(row.delivered, 15, "{}", t.name());
        assert!(row.bytes > 0 && row.requests > 0);
        rows.push(row);
    }
    // Streams make one request per client, polls one per answer or more.
    assert_eq!(rows[2].requests, 3);
    assert_eq!(rows[3].requests, 3);
    assert!(rows[1].requests >= 3 * 2);
    let md = techniques::markdown(&o, &rows);
    assert_eq!(md.matches("\n| ").count(), 5, "{md}");
    let svg = techniques::svg(&o, &rows);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<rect").count(), 1 + 5 * 4);
}
