//! A tokio-util frame codec (feature `codec`).

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::config::Config;
use crate::error::Error;
use crate::frame::{Frame, FrameDecoder, Role, encode_frame};

/// tokio-util `Decoder` and `Encoder` of single [`Frame`]s, for `Framed` users who want the
/// frame layer and do their own message handling (no reassembly, no automatic pong, no
/// close handshake: that is [`Protocol`](crate::Protocol)'s job).
///
/// Decoding is [`FrameDecoder`] for frames received by `role` (masking rule, reserved bits,
/// control-frame rules, `cfg.max_frame`), its errors terminal. Encoding follows the
/// sender's rule for `role`: a client masks every frame with a fresh random key (RFC 6455
/// §5.3), a server never masks; the header's `payload_len` comes from the payload.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use pushwire_ws::{Config, bridge::FrameCodec, frame::{Frame, FrameHeader, OpCode, Role}};
/// use tokio_util::codec::{Decoder, Encoder};
/// let cfg = Config::default();
/// let mut client = FrameCodec::new(Role::Client, &cfg);
/// let mut server = FrameCodec::new(Role::Server, &cfg);
/// let mut wire = BytesMut::new();
/// let frame = Frame { header: FrameHeader::new(OpCode::Text, 0), payload: Bytes::from_static(b"hi") };
/// client.encode(frame, &mut wire)?;
/// let got = server.decode(&mut wire)?.unwrap();
/// assert_eq!((got.header.opcode, &got.payload[..]), (OpCode::Text, &b"hi"[..]));
/// # Ok::<(), pushwire_ws::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameCodec {
    role: Role,
    decoder: FrameDecoder,
}

impl FrameCodec {
    /// A codec for the `role` end of a connection, limited by `cfg.max_frame`.
    pub fn new(role: Role, cfg: &Config) -> Self {
        FrameCodec {
            role,
            decoder: FrameDecoder::new(role, cfg),
        }
    }

    /// The role this codec speaks for.
    pub fn role(&self) -> Role {
        self.role
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Error> {
        self.decoder.decode(src)
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = Error;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), Error> {
        let mut header = frame.header;
        header.mask = match self.role {
            // §5.3: "a new masking key ... MUST be derived from a strong source of entropy"
            // for each frame.
            Role::Client => Some((pushwire_http::entropy::random_u64() as u32).to_ne_bytes()),
            Role::Server => None,
        };
        encode_frame(&header, &frame.payload, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameHeader, OpCode};
    use bytes::Bytes;
    use futures_util::{SinkExt, StreamExt};
    use tokio_util::codec::Framed;

    #[tokio::test]
    async fn framed_client_and_server_exchange_frames_over_a_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cfg = Config::default();
        let server_cfg = cfg.clone();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut framed = Framed::new(tcp, FrameCodec::new(Role::Server, &server_cfg));
            // Echo every frame back until the close.
            while let Some(frame) = framed.next().await {
                let frame = frame.unwrap();
                assert!(frame.header.mask.is_some(), "client frames arrive masked");
                let close = frame.header.opcode == OpCode::Close;
                framed.send(frame).await.unwrap();
                if close {
                    break;
                }
            }
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut framed = Framed::new(tcp, FrameCodec::new(Role::Client, &cfg));
        let payloads: [&[u8]; 3] = [b"", b"hello", &[7u8; 70_000]];
        for p in payloads {
            framed
                .send(Frame {
                    header: FrameHeader::new(OpCode::Binary, 0),
                    payload: Bytes::copy_from_slice(p),
                })
                .await
                .unwrap();
            let back = framed.next().await.unwrap().unwrap();
            assert_eq!(back.header.mask, None);
            assert_eq!(&back.payload[..], p);
        }
        framed
            .send(Frame {
                header: FrameHeader::new(OpCode::Close, 0),
                payload: Bytes::from_static(b"\x03\xe8"),
            })
            .await
            .unwrap();
        assert_eq!(
            framed.next().await.unwrap().unwrap().header.opcode,
            OpCode::Close
        );
        server.await.unwrap();
    }

    #[test]
    fn server_decoder_refuses_an_unmasked_frame_and_stays_failed() {
        let mut c = FrameCodec::new(Role::Server, &Config::default());
        let mut buf = BytesMut::from(&b"\x81\x02hi"[..]);
        let e = c.decode(&mut buf).unwrap_err();
        assert_eq!(c.decode(&mut buf).unwrap_err(), e);
    }

    #[test]
    fn frame_over_max_frame_is_refused_on_its_header() {
        let cfg = Config {
            max_frame: 16,
            ..Config::default()
        };
        let mut c = FrameCodec::new(Role::Client, &cfg);
        let mut buf = BytesMut::from(&b"\x82\x11"[..]);
        assert!(matches!(c.decode(&mut buf), Err(Error::Capacity(_))));
    }
}
