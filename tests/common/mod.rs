//! Helpers for the end-to-end tests: an in-process server on 127.0.0.1:0 and minimal raw
//! HTTP, SSE and WebSocket clients (raw so that tests can also send what no library would).
#![allow(dead_code)]

mod raw;
pub use raw::*;

use std::net::SocketAddr;
use std::time::Duration;

use pushwire::server::{Config, Server};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Srv {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Srv {
    /// Signals shutdown and waits for `run` to return.
    pub async fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("server did not stop")
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn config() -> Config {
    let mut c = Config::default();
    c.addr = "127.0.0.1:0".parse().unwrap();
    c.shutdown_grace = Duration::from_secs(5);
    c
}

pub async fn start(cfg: Config) -> Srv {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(Server::new(cfg).run(listener, async move {
        let _ = rx.await;
    }));
    Srv {
        addr,
        stop: Some(tx),
        task: Some(task),
    }
}
