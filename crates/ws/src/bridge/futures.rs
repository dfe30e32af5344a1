//! The connection as a `Stream` + `Sink` of messages (feature `futures`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::close::CloseCode;
use crate::error::Error;
use crate::message::Message;
use crate::stream::{WebSocket, WsReader, WsWriter};

type RecvFut<S> =
    Pin<Box<dyn Future<Output = (WsReader<S>, Result<Option<Message>, Error>)> + Send>>;
type SendFut = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// A [`WebSocket`] as a `futures_core::Stream` of received messages and a
/// `futures_sink::Sink` of messages to send: `StreamExt::next`, `SinkExt::send`,
/// `StreamExt::split`, `forward` work as with tokio-tungstenite's `WebSocketStream`.
///
/// - The stream yields text and binary messages; pings are answered and the close
///   handshake completed underneath (as [`WsReader::recv`] does). It ends (`None`) after
///   the close handshake, and after yielding one error (errors are terminal).
/// - `start_send` queues a message ([`WsWriter::feed`], with its backpressure in
///   `poll_ready`); `poll_flush` writes the queue; `poll_close` sends a close frame with
///   code 1000 (keep polling the stream to see the peer's answer).
///
/// Each operation in flight holds the shell's future in a box: one allocation per message
/// each way. [`WsStream::into_inner`] gives the [`WebSocket`] back for the allocation-free
/// `recv`/`send` API.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use pushwire_ws::{Message, WebSocket, bridge::WsStream};
/// # async fn run() -> Result<(), pushwire_ws::Error> {
/// let ws = WebSocket::connect("ws://127.0.0.1:9001/echo", Default::default()).await?;
/// let mut ws = WsStream::new(ws);
/// ws.send(Message::text("hello")).await?;
/// while let Some(msg) = ws.next().await {
///     println!("{:?}", msg?);
/// }
/// # Ok(()) }
/// ```
pub struct WsStream<S> {
    /// `None` while a receive is in flight (the future owns the reader).
    reader: Option<WsReader<S>>,
    writer: WsWriter<S>,
    recv: Option<RecvFut<S>>,
    /// The queued `feed`, `flush` or `close` in flight.
    send: Option<SendFut>,
    /// A close frame was sent by `poll_close`.
    closing: bool,
    /// The stream ended or yielded its terminal error.
    ended: bool,
}

impl<S> WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Wraps a connection.
    pub fn new(ws: WebSocket<S>) -> Self {
        let (reader, writer) = ws.split();
        WsStream {
            reader: Some(reader),
            writer,
            recv: None,
            send: None,
            closing: false,
            ended: false,
        }
    }

    /// The connection back, or `None` while a receive is in flight (poll the stream to its
    /// next item first).
    pub fn into_inner(self) -> Option<(WsReader<S>, WsWriter<S>)> {
        Some((self.reader?, self.writer))
    }

    /// Drives the send operation in flight, if any.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(fut) = &mut self.send {
            let r = std::task::ready!(fut.as_mut().poll(cx));
            self.send = None;
            r?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S> From<WebSocket<S>> for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn from(ws: WebSocket<S>) -> Self {
        WsStream::new(ws)
    }
}

impl<S> std::fmt::Debug for WsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsStream")
            .field("receiving", &self.recv.is_some())
            .field("sending", &self.send.is_some())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl<S> Stream for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if this.recv.is_none() {
            let Some(mut reader) = this.reader.take() else {
                return Poll::Ready(None);
            };
            // `recv` is cancellation-safe, so dropping this future with the stream loses
            // nothing that was not already handed out.
            this.recv = Some(Box::pin(async move {
                let r = reader.recv().await;
                (reader, r)
            }));
        }
        let Some(fut) = this.recv.as_mut() else {
            return Poll::Ready(None);
        };
        let (reader, r) = std::task::ready!(fut.as_mut().poll(cx));
        this.recv = None;
        this.reader = Some(reader);
        Poll::Ready(match r {
            Ok(Some(m)) => Some(Ok(m)),
            Ok(None) => {
                this.ended = true;
                None
            }
            Err(e) => {
                // One error, then the end: a `while let Some(..)` loop must not spin on it.
                this.ended = true;
                Some(Err(e))
            }
        })
    }
}

impl<S> Sink<Message> for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_send(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, msg: Message) -> Result<(), Error> {
        let writer = self.writer.clone();
        // `poll_ready` finished the previous operation; `feed` queues without writing
        // unless the queue is over its high-water mark.
        self.send = Some(Box::pin(async move { writer.feed(&msg).await }));
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        std::task::ready!(self.poll_send(cx))?;
        let writer = self.writer.clone();
        self.send = Some(Box::pin(async move { writer.flush().await }));
        self.poll_send(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        std::task::ready!(self.poll_send(cx))?;
        if !self.closing {
            self.closing = true;
            let writer = self.writer.clone();
            self.send = Some(Box::pin(async move {
                writer.close(CloseCode::NORMAL, "").await
            }));
        }
        self.poll_send(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use futures_util::{SinkExt, StreamExt};

    async fn pair() -> (
        WsStream<tokio::net::TcpStream>,
        WsStream<tokio::net::TcpStream>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            WebSocket::accept_stream(tcp, Config::default())
                .await
                .unwrap()
        });
        let client = WebSocket::connect(&format!("ws://{addr}/"), Config::default())
            .await
            .unwrap();
        (WsStream::new(client), WsStream::new(server.await.unwrap()))
    }

    #[tokio::test]
    async fn stream_and_sink_echo_then_close_handshake_ends_both_streams() {
        let (mut client, server) = pair().await;
        let echo = tokio::spawn(async move {
            let (mut tx, mut rx) = server.split();
            while let Some(m) = rx.next().await {
                tx.send(m.unwrap()).await.unwrap();
            }
        });
        let msgs: Vec<Message> = (0..100)
            .map(|i| {
                if i % 2 == 0 {
                    Message::text(format!("m{i}"))
                } else {
                    Message::binary(vec![i as u8; i * 100])
                }
            })
            .collect();
        // Feed all, flush once, as SinkExt::send_all does.
        let mut src = futures_util::stream::iter(msgs.clone().into_iter().map(Ok));
        client.send_all(&mut src).await.unwrap();
        for m in &msgs {
            assert_eq!(&client.next().await.unwrap().unwrap(), m);
        }
        client.close().await.unwrap();
        // The server answered the close; the client's stream ends cleanly.
        assert!(client.next().await.is_none());
        assert!(client.next().await.is_none());
        tokio::time::timeout(std::time::Duration::from_secs(10), echo)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_protocol_error_is_yielded_once_then_the_stream_ends() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            // The raw peer never answers the close: don't wait the default 5 s for it.
            let cfg = Config {
                close_timeout: std::time::Duration::from_millis(100),
                ..Config::default()
            };
            WsStream::new(WebSocket::accept_stream(tcp, cfg).await.unwrap())
        });
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::AsyncWriteExt;
        raw.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\
              \x81\x02hi",
        )
        .await
        .unwrap();
        let mut ws = server.await.unwrap();
        // An unmasked client frame: a protocol error (close 1002), once.
        assert!(matches!(ws.next().await, Some(Err(Error::Protocol(_)))));
        assert!(ws.next().await.is_none());
    }
}
