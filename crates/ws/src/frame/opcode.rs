//! Frame opcodes (RFC 6455 §5.2, §11.8).

/// A frame opcode. Reserved values (0x3-0x7, 0xB-0xF) have no variant: the decoder refuses
/// them with close 1002 before they can reach the message layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The opcode for the low nibble `b`, or `None` for a reserved one.
    pub fn from_u8(b: u8) -> Option<OpCode> {
        Some(match b {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, ping and pong are control frames (opcodes with the high bit set, §5.5).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_5_2_every_nibble() {
        for b in 0u8..16 {
            match OpCode::from_u8(b) {
                Some(op) => {
                    assert_eq!(op.as_u8(), b);
                    assert_eq!(op.is_control(), b >= 8);
                }
                None => assert!(matches!(b, 3..=7 | 0xB..=0xF), "{b}"),
            }
        }
    }
}
