//! Masking (RFC 6455 §5.3): XOR with a 4-byte key, in place.
//!
//! The key is widened to a 64-bit word and applied eight bytes at a time; on x86-64 the
//! compiler turns the word loop into SIMD, so this safe version runs at memory speed (see the
//! `mask` benchmark and the crate README for the figures against `memcpy`). No `unsafe` is
//! needed for that, so there is none.

/// XORs `buf` with `key`, where `buf[0]` is payload byte number `offset` of the frame.
///
/// `offset` lets a frame be unmasked incrementally as its payload arrives: call again on the
/// next bytes with `offset` advanced by what was done.
///
/// ```
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut data = *b"Hello";
/// pushwire_ws::frame::apply_mask(&mut data, key, 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]); // RFC 6455 §5.7
/// pushwire_ws::frame::apply_mask(&mut data[..2], key, 0);
/// pushwire_ws::frame::apply_mask(&mut data[2..], key, 2);
/// assert_eq!(&data, b"Hello");
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // A payload sits behind a 2-14 byte header, so its first byte is rarely on a 16-byte
    // boundary; the vectorised loop's 16-byte loads and stores would then cross a cache line
    // every fourth time (a 1 MiB echo profile: the unmask ran ~35 % slower than fastwebsockets',
    // which aligns its words). Longer buffers get their first bytes done one at a time up to
    // the boundary; short ones are not worth the extra branch.
    if buf.len() >= ALIGN_MIN {
        let head = (buf.as_ptr() as usize).wrapping_neg() % 16;
        let (first, rest) = buf.split_at_mut(head);
        mask_bytes(first, rotate(key, offset));
        mask_words(rest, key, offset + head);
    } else {
        mask_words(buf, key, offset);
    }
}

/// Buffers at least this long (256 bytes) are unmasked from a 16-byte boundary on.
const ALIGN_MIN: usize = 256;

/// The word loop: `buf[0]` is payload byte `offset`.
#[inline]
fn mask_words(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    let k = u32::from_ne_bytes(key) as u64;
    let wide = k | (k << 32);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let v = u64::from_ne_bytes(w) ^ wide;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    // The tail is shorter than 8 bytes and starts at a multiple of 8 (so of 4) from the
    // rotated key's origin.
    mask_bytes(chunks.into_remainder(), key);
}

/// Byte by byte, `buf[0]` under `key[0]`.
#[inline]
fn mask_bytes(buf: &mut [u8], key: [u8; 4]) {
    for (b, m) in buf.iter_mut().zip(key.iter().cycle()) {
        *b ^= m;
    }
}

/// The key as seen from payload byte `offset`.
#[inline]
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    // Rotating the bytes left by k is rotating their little-endian word right by 8k bits
    // (a register rotate instead of a slice rotation, which showed up in profiles).
    let shift = 8 * (offset % 4) as u32;
    u32::from_le_bytes(key).rotate_right(shift).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious byte loop, the reference the fast version is tested against.
    fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    #[test]
    fn matches_bytewise_at_every_length_offset_and_alignment() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let src: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..8 {
            for len in 0..(src.len() - start) {
                for offset in 0..4 {
                    let mut a = src[start..start + len].to_vec();
                    let mut b = a.clone();
                    apply_mask(&mut a, key, offset);
                    apply_mask_bytewise(&mut b, key, offset);
                    assert_eq!(a, b, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    /// Long buffers are unmasked from a 16-byte boundary on: the slices here start at every
    /// address alignment (the copies above are fresh, so always aligned allocations), with
    /// lengths across `ALIGN_MIN` and every key offset.
    #[test]
    fn matches_bytewise_at_every_address_alignment() {
        let key = [0x9a, 0xbc, 0xde, 0xf1];
        let src: Vec<u8> = (0..1200u32).map(|i| (i * 13 + 5) as u8).collect();
        for start in 0..32 {
            for len in [
                0,
                1,
                15,
                16,
                17,
                ALIGN_MIN - 1,
                ALIGN_MIN,
                ALIGN_MIN + 1,
                300,
                1000,
            ] {
                for offset in 0..4 {
                    let mut a = src.clone();
                    let mut b = src.clone();
                    apply_mask(&mut a[start..start + len], key, offset);
                    apply_mask_bytewise(&mut b[start..start + len], key, offset);
                    assert_eq!(a, b, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn incremental_equals_whole_for_every_split() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let src: Vec<u8> = (0..64u8).collect();
        let mut whole = src.clone();
        apply_mask(&mut whole, key, 0);
        for split in 0..=src.len() {
            let mut parts = src.clone();
            let (a, b) = parts.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            assert_eq!(parts, whole, "split {split}");
        }
    }
}
