//! The HTTP surface of DESIGN.md over real sockets: every endpoint, status and cursor rule of
//! the polling transports, CORS and origins, static files, and the binary's command line.

mod common;
use common::*;

use std::time::Duration;

#[tokio::test]
async fn publish_then_short_poll_cursor_rules() {
    let srv = start(config()).await;
    let a = srv.addr;
    // since absent: from now on
    let (m, next0, missed) = batch(&get(a, "/poll?topic=t1").await);
    assert!(m.is_empty() && !missed);
    assert!(next0.ends_with("-0"), "{next0}");
    let epoch = next0.trim_end_matches("-0").to_string();
    let id1 = publish(a, "t1", b"one").await;
    let id2 = publish(a, "t1", b"two").await;
    assert_eq!(id1, format!("{epoch}-1"));
    assert_eq!(id2, format!("{epoch}-2"));
    // since=0: oldest retained
    let (m, next, missed) = batch(&get(a, "/poll?topic=t1&since=0").await);
    assert_eq!(
        m,
        vec![(id1.clone(), "one".into()), (id2.clone(), "two".into())]
    );
    assert_eq!((next.as_str(), missed), (id2.as_str(), false));
    // next is the cursor for the next request
    let (m, _, _) = batch(&get(a, &format!("/poll?topic=t1&since={next0}")).await);
    assert_eq!(m.len(), 2);
    let (m, next, _) = batch(&get(a, &format!("/poll?topic=t1&since={id1}")).await);
    assert_eq!(m, vec![(id2.clone(), "two".into())]);
    let (m, next2, _) = batch(&get(a, &format!("/poll?topic=t1&since={next}")).await);
    assert!(m.is_empty());
    assert_eq!(next2, id2);
    // another epoch: from the oldest, missed
    let (m, _, missed) = batch(&get(a, "/poll?topic=t1&since=zzzz-1").await);
    assert_eq!((m.len(), missed), (2, true));
    // topics are separate
    let (m, _, _) = batch(&get(a, "/poll?topic=other&since=0").await);
    assert!(m.is_empty());
    // default topic
    publish(a, "default", b"d").await;
    let (m, _, _) = batch(&get(a, "/poll?since=0").await);
    assert_eq!(m.len(), 1);
}

#[tokio::test]
async fn history_overflow_reports_missed() {
    let mut cfg = config();
    cfg.history = 3;
    let srv = start(cfg).await;
    let a = srv.addr;
    let first = publish(a, "h", b"1").await;
    for i in 2..=5 {
        publish(a, "h", i.to_string().as_bytes()).await;
    }
    let (m, _, missed) = batch(&get(a, &format!("/poll?topic=h&since={first}")).await);
    assert!(missed, "message 2 fell out of the history");
    assert_eq!(
        m.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
        ["3", "4", "5"]
    );
    let (m, _, missed) = batch(&get(a, "/poll?topic=h&since=0").await);
    assert_eq!((m.len(), missed), (3, false));
}

#[tokio::test]
async fn bad_cursor_topic_and_timeout_are_400() {
    let srv = start(config()).await;
    let a = srv.addr;
    for target in [
        "/poll?since=abc",
        "/poll?since=",
        "/poll?since=a-b",
        "/poll?since=%zz",
        "/poll?topic=a/b",
        "/poll?topic=",
        &format!("/poll?topic={}", "x".repeat(129)),
        "/long-poll?since=-1",
        "/long-poll?timeout=soon",
        "/events?lastEventId=nope",
        "/publish?topic=a%20b",
    ] {
        let r = if target.starts_with("/publish") {
            post(a, target, b"x").await
        } else {
            get(a, target).await
        };
        assert_eq!(r.status, 400, "{target}");
    }
    let (_, s) = Ws::try_open(a, "/ws?since=nope", "").await;
    assert_eq!(s, 400);
    let (_, s) = Ws::try_open(a, "/ws?topic=a%2Fb", "").await;
    assert_eq!(s, 400);
    let r = request(
        a,
        format!("GET /events HTTP/1.1\r\nHost: {a}\r\nLast-Event-ID: bogus\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn binary_payloads_are_base64_in_json() {
    let srv = start(config()).await;
    let a = srv.addr;
    publish(a, "bin", &[0xff, 0x00, 0x80]).await;
    publish(a, "bin", "é".as_bytes()).await;
    let v = get(a, "/poll?topic=bin&since=0").await.json();
    assert_eq!(v["messages"][0]["data"], "/wCA");
    assert_eq!(v["messages"][0]["encoding"], "base64");
    assert_eq!(v["messages"][1]["data"], "é");
    assert!(v["messages"][1].get("encoding").is_none());
}

#[tokio::test]
async fn long_poll_times_out_and_wakes() {
    let srv = start(config()).await;
    let a = srv.addr;
    let (_, next, _) = batch(&get(a, "/poll?topic=lp").await);
    // timeout: 200 with empty messages and the same next
    let r = get(a, &format!("/long-poll?topic=lp&since={next}&timeout=100")).await;
    let (m, n2, missed) = batch(&r);
    assert!(m.is_empty() && !missed);
    assert_eq!(n2, next);
    // absent since: held until a message published after the request
    let waiter = tokio::spawn(async move { get(a, "/long-poll?topic=lp&timeout=10000").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let id = publish(a, "lp", b"news").await;
    let r = tokio::time::timeout(GUARD, waiter).await.unwrap().unwrap();
    let (m, n3, _) = batch(&r);
    assert_eq!(m, vec![(id.clone(), "news".into())]);
    assert_eq!(n3, id);
    // a cursor behind the head answers at once
    let r = get(
        a,
        &format!("/long-poll?topic=lp&since={next}&timeout=60000"),
    )
    .await;
    assert_eq!(batch(&r).0.len(), 1);
    // over-long timeouts are clamped, not refused
    let r = get(
        a,
        &format!("/long-poll?topic=lp&since={next}&timeout=999999999"),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn publish_limit_is_413_and_exact_limit_passes() {
    let srv = start(config()).await;
    let a = srv.addr;
    let ok = vec![b'a'; 1024 * 1024];
    assert_eq!(post(a, "/publish?topic=big", &ok).await.status, 200);
    let mut c = Client::new(a).await;
    c.send(
        format!(
            "POST /publish?topic=big HTTP/1.1\r\nHost: {a}\r\nContent-Length: {}\r\n\r\n",
            1024 * 1024 + 1
        )
        .as_bytes(),
    )
    .await;
    let r = c.response().await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    // chunked bodies are bounded as they arrive
    let mut c = Client::new(a).await;
    c.send(format!("POST /publish?topic=big HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n").as_bytes()).await;
    assert_eq!(c.response().await.status, 413);
    // a chunked publish works
    let mut c = Client::new(a).await;
    c.send(format!("POST /publish?topic=ch HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").as_bytes()).await;
    assert_eq!(c.response().await.status, 200);
    let (m, _, _) = batch(&get(a, "/poll?topic=ch&since=0").await);
    assert_eq!(m[0].1, "abcde");
}

#[tokio::test]
async fn expect_100_continue_is_answered() {
    let srv = start(config()).await;
    let a = srv.addr;
    let mut c = Client::new(a).await;
    c.send(format!("POST /publish?topic=e HTTP/1.1\r\nHost: {a}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n").as_bytes()).await;
    let r = c.response().await;
    assert_eq!(r.status, 100);
    c.send(b"hello").await;
    assert_eq!(c.response().await.status, 200);
}

#[tokio::test]
async fn router_404_405_head_options_healthz() {
    let srv = start(config()).await;
    let a = srv.addr;
    assert_eq!(get(a, "/nope").await.status, 404);
    for (method, path, allow) in [
        ("GET", "/publish", "POST, OPTIONS"),
        ("DELETE", "/poll", "GET, HEAD, OPTIONS"),
        ("POST", "/events", "GET, OPTIONS"),
        ("POST", "/ws", "GET"),
        ("PUT", "/healthz", "GET, HEAD"),
        ("POST", "/", "GET, HEAD"),
    ] {
        let r = request(
            a,
            format!("{method} {path} HTTP/1.1\r\nHost: {a}\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert_eq!(r.status, 405, "{method} {path}");
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }
    // HEAD: the GET head with its length, no body
    let mut c = Client::new(a).await;
    c.send(
        format!("HEAD / HTTP/1.1\r\nHost: {a}\r\n\r\nGET /healthz HTTP/1.1\r\nHost: {a}\r\n\r\n")
            .as_bytes(),
    )
    .await;
    let h = c.response_opt(true).await.unwrap();
    assert_eq!(h.status, 200);
    assert!(
        h.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 1000
    );
    let health = c.response().await; // the next response starts right after the head
    assert_eq!(health.status, 200);
    let v = health.json();
    assert_eq!(v["hub"], "memory");
    assert!(v["connections"]["total"].as_u64().unwrap() >= 1);
    // plain OPTIONS
    let r = request(
        a,
        format!("OPTIONS /publish HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    // the demo page
    let page = get(a, "/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    for needle in ["EventSource", "WebSocket", "/long-poll", "setInterval"] {
        assert!(page.text().contains(needle), "{needle}");
    }
}

#[tokio::test]
async fn cors_and_origins() {
    let mut cfg = config();
    cfg.allow_origins.push("http://app.example".into());
    let srv = start(cfg).await;
    let a = srv.addr;
    // preflight from an allowed origin
    let r = request(a, format!("OPTIONS /publish?topic=c HTTP/1.1\r\nHost: {a}\r\nOrigin: http://app.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n").as_bytes()).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    // preflight from elsewhere
    let r = request(a, format!("OPTIONS /publish HTTP/1.1\r\nHost: {a}\r\nOrigin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n\r\n").as_bytes()).await;
    assert_eq!(r.status, 403);
    // credentialed GET
    let r = request(
        a,
        format!("GET /poll HTTP/1.1\r\nHost: {a}\r\nOrigin: http://app.example\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    assert_eq!(r.header("vary"), Some("Origin"));
    let r = request(a, format!("POST /publish HTTP/1.1\r\nHost: {a}\r\nOrigin: http://evil.example\r\nContent-Length: 1\r\n\r\nx").as_bytes()).await;
    assert_eq!(r.status, 403);
    let (m, _, _) = batch(&get(a, "/poll?since=0").await);
    assert!(m.is_empty(), "a refused publish must not be stored");
    // own origin needs no CORS headers
    let r = request(
        a,
        format!("GET /poll HTTP/1.1\r\nHost: {a}\r\nOrigin: http://{a}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
    // WebSocket upgrades: own and listed origins pass, others 403
    let (_, s) = Ws::try_open(a, "/ws", &format!("Origin: http://{a}\r\n")).await;
    assert_eq!(s, 101);
    let (_, s) = Ws::try_open(a, "/ws", "Origin: http://app.example\r\n").await;
    assert_eq!(s, 101);
    let (_, s) = Ws::try_open(a, "/ws", "Origin: http://evil.example\r\n").await;
    assert_eq!(s, 403);
    let (_, s) = Ws::try_open(a, "/echo", "Origin: null\r\n").await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn keep_alive_and_pipelining_answer_in_order() {
    let srv = start(config()).await;
    let a = srv.addr;
    let mut c = Client::new(a).await;
    let mut raw = String::new();
    for i in 0..5 {
        raw.push_str(&format!(
            "POST /publish?topic=pipe HTTP/1.1\r\nHost: {a}\r\nContent-Length: 1\r\n\r\n{i}"
        ));
    }
    raw.push_str(&format!(
        "GET /poll?topic=pipe&since=0 HTTP/1.1\r\nHost: {a}\r\n\r\n"
    ));
    c.send(raw.as_bytes()).await;
    let mut ids = vec![];
    for _ in 0..5 {
        let r = c.response().await;
        assert_eq!(r.status, 200);
        ids.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let (m, _, _) = batch(&c.response().await);
    assert_eq!(m.iter().map(|x| x.0.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(m.iter().map(|x| x.1.as_str()).collect::<String>(), "01234");
    // Connection: close is honoured
    c.send(format!("GET /healthz HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n").as_bytes())
        .await;
    let r = c.response().await;
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed().await);
    // HTTP/1.0 closes by default
    let mut c = Client::new(a).await;
    c.send(b"GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(c.response().await.status, 200);
    assert!(c.closed().await);
    // HTTP/1.0 keep-alive is said explicitly, and honoured
    let mut c = Client::new(a).await;
    c.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let r = c.response().await;
    assert_eq!(r.header("connection"), Some("keep-alive"));
    c.send(b"GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(c.response().await.status, 200);
    assert!(c.closed().await);
}

#[tokio::test]
async fn static_files() {
    let dir = std::env::temp_dir().join(format!("pushwire-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("index.html"), "<p>home</p>").unwrap();
    std::fs::write(dir.join("app.js"), "console.log(1)").unwrap();
    std::fs::write(dir.join("sub/data.json"), "{}").unwrap();
    let outside = std::env::temp_dir().join(format!("pushwire-secret-{}", std::process::id()));
    std::fs::write(&outside, "secret").unwrap();
    #[cfg(unix)]
    let _ = std::os::unix::fs::symlink(&outside, dir.join("link"));
    let mut cfg = config();
    cfg.static_dir = Some(dir.clone());
    let srv = start(cfg).await;
    let a = srv.addr;
    let r = get(a, "/").await;
    assert_eq!(r.text(), "<p>home</p>");
    let r = get(a, "/app.js").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    let etag = r.header("etag").unwrap().to_string();
    let r = request(
        a,
        format!("GET /app.js HTTP/1.1\r\nHost: {a}\r\nIf-None-Match: {etag}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = get(a, "/sub/data.json").await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    // no listing, no traversal, no symlink out
    for bad in [
        "/sub/",
        "/sub",
        "/../pushwire-secret",
        "/%2e%2e/etc/passwd",
        "/sub/..%2F..%2Fetc%2Fpasswd",
        "/link",
        "/nope.txt",
    ] {
        assert_eq!(get(a, bad).await.status, 404, "{bad}");
    }
    // API routes still win over files
    assert_eq!(get(a, "/healthz").await.status, 200);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&outside);
}

#[tokio::test]
async fn binary_prints_its_address_and_help() {
    use tokio::io::AsyncBufReadExt;
    let exe = env!("CARGO_BIN_EXE_pushwire");
    let help = std::process::Command::new(exe)
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for opt in [
        "--addr",
        "--static",
        "--allow-origin",
        "--history",
        "--max-connections",
        "--help",
    ] {
        assert!(text.contains(opt), "{opt}");
    }
    let bad = std::process::Command::new(exe)
        .arg("--bogus")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let mut child = tokio::process::Command::new(exe)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(GUARD, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = line.strip_prefix("listening on http://").expect(&line);
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    assert_ne!(addr.port(), 0);
    assert_eq!(get(addr, "/healthz").await.status, 200);
    // SIGTERM: graceful exit
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(GUARD, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}
