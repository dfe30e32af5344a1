//! Helpers shared by the fuzz targets: the input layout and the chunking.
//!
//! # Input layout of the byte-stream targets
//!
//! ```text
//! [4 config bytes][n: 1 byte][n (mod 16) cut positions, u16 little-endian][data ...]
//! ```
//!
//! A config byte of 0 means "the crate's default limit" for the knob it drives, and a
//! non-zero byte selects a small limit, so the fuzzer reaches every limit path cheaply while
//! a seed written as `"\0\0\0\0\0" + example` runs the example under the default limits.
//! The cut positions (taken modulo `data.len() + 1`, sorted, deduplicated) are where the
//! "split" feeding cuts the data; the same data is also fed whole (and, for short inputs,
//! byte by byte), and the targets assert that every feeding gives the same result.
//! Inputs shorter than the header are padded with zeros (default config, no cuts).

/// A decoded fuzz input.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The four config bytes (0 = default).
    pub cfg: [u8; 4],
    /// Where the split feeding cuts `data`, sorted, inside `0..=data.len()`.
    pub cuts: Vec<usize>,
    /// The bytes under test.
    pub data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Decodes the layout above; never fails.
    pub fn parse(raw: &'a [u8]) -> Input<'a> {
        let mut cfg = [0u8; 4];
        for (c, b) in cfg.iter_mut().zip(raw) {
            *c = *b;
        }
        let rest = raw.get(4..).unwrap_or_default();
        let (n, rest) = match rest.split_first() {
            Some((n, rest)) => (usize::from(*n % 16), rest),
            None => (0, rest),
        };
        let cut_bytes = (2 * n).min(rest.len());
        let (cut_raw, data) = rest.split_at(cut_bytes);
        let mut cuts: Vec<usize> = cut_raw
            .chunks_exact(2)
            .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (data.len() + 1))
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        Input { cfg, cuts, data }
    }

    /// `data` cut at `cuts` (empty pieces dropped).
    pub fn pieces(&self) -> Vec<&'a [u8]> {
        split_at(self.data, &self.cuts)
    }
}

/// `data` cut at the sorted positions `cuts`; empty pieces are dropped.
pub fn split_at<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&data.len())) {
        let c = c.clamp(prev, data.len());
        if c > prev {
            out.push(&data[prev..c]);
        }
        prev = c;
    }
    out
}

/// A limit driven by one config byte: 0 gives `default`, anything else a small value in
/// `min..=min + span - 1`, so limit paths are reached with short inputs.
pub fn small_limit(byte: u8, default: usize, min: usize, span: usize) -> usize {
    if byte == 0 {
        default
    } else {
        min + usize::from(byte) % span.max(1)
    }
}

/// Inputs up to this length are also fed one byte at a time.
pub const BYTEWISE_MAX: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let raw = b"\x01\x02\x03\x04\x02\x01\x00\x03\x00abcd";
        let i = Input::parse(raw);
        assert_eq!(i.cfg, [1, 2, 3, 4]);
        assert_eq!(i.cuts, vec![1, 3]);
        assert_eq!(i.data, b"abcd");
        assert_eq!(i.pieces(), vec![&b"a"[..], b"bc", b"d"]);
        let short = Input::parse(b"\x01");
        assert_eq!(short.cfg, [1, 0, 0, 0]);
        assert!(short.data.is_empty());
        assert!(short.pieces().is_empty());
    }
}
