//! Drives Autobahn|Testsuite's `fuzzingserver` with the pushwire-ws client: asks for the
//! number of cases, runs each one as an echo client, then asks the server to write its
//! reports.
//!
//! `cargo run --release -p pushwire-ws --example autobahn_client -- ws://127.0.0.1:9001`

use pushwire_ws::{Config, Message, WebSocket};

const AGENT: &str = "pushwire";

async fn echo(url: &str) -> Result<(), pushwire_ws::Error> {
    let mut ws = WebSocket::connect(url, Config::default()).await?;
    while let Some(msg) = ws.recv().await? {
        ws.send(&msg).await?;
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let mut ws = WebSocket::connect(&format!("{base}/getCaseCount"), Config::default()).await?;
    let count: u32 = match ws.recv().await? {
        Some(Message::Text(t)) => t.as_str().trim().parse()?,
        other => return Err(format!("unexpected answer to getCaseCount: {other:?}").into()),
    };
    while ws.recv().await?.is_some() {}
    println!("running {count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        // Failures are what the suite tests; it records them, we carry on.
        if let Err(e) = echo(&url).await {
            eprintln!("case {case}: {e}");
        }
    }
    let mut ws = WebSocket::connect(
        &format!("{base}/updateReports?agent={AGENT}"),
        Config::default(),
    )
    .await?;
    while ws.recv().await?.is_some() {}
    println!("reports updated");
    Ok(())
}
