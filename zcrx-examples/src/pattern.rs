//! The test pattern that `zcrx-send` sends and `zcrx-recv --verify` checks.
//!
//! # Definition
//!
//! The pattern is a deterministic function of the byte offset `i` within one
//! connection's stream (every connection starts at offset 0):
//!
//! ```text
//! byte(i) = little-endian byte (i mod 8) of word(i / 8)
//! word(k) = mix64(k + 0x9E37_79B9_7F4A_7C15)
//! mix64(z): z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9
//!           z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB
//!           z ^ (z >> 31)                       (wrapping u64 arithmetic)
//! ```
//!
//! `mix64` is the output function of the SplitMix64 generator. Every 8-byte
//! word of the stream is different from its neighbours and looks random, so
//! a lost, duplicated, reordered or zero-filled chunk is caught at its
//! first byte, wherever it lands (a pattern with a short period, such as
//! `'a' + i % 26`, misses chunks displaced by a multiple of the period).
//! Checking costs a handful of integer operations per 8 bytes, with no
//! table and no allocation.
//!
//! ```
//! use zcrx_examples::pattern;
//!
//! let mut data = vec![0u8; 10_000];
//! pattern::fill(4_000, &mut data); // bytes 4000..14000 of a stream
//! assert_eq!(data[0], pattern::byte_at(4_000));
//! assert!(pattern::check(4_000, &data).is_ok());
//! data[1234] ^= 1;
//! let bad = pattern::check(4_000, &data).unwrap_err();
//! assert_eq!(bad.offset, 5_234);
//! ```

use core::fmt;

/// The SplitMix64 increment, added to the word index before mixing.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The pattern's 8-byte word number `k` (stream bytes `8k .. 8k + 8`,
/// little-endian).
#[inline(always)]
pub const fn word(k: u64) -> u64 {
    let mut z = k.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The pattern's byte at stream offset `offset`.
#[inline]
pub const fn byte_at(offset: u64) -> u8 {
    word(offset / 8).to_le_bytes()[(offset % 8) as usize]
}

/// Fills `buf` with the pattern's bytes `offset .. offset + buf.len()`.
pub fn fill(offset: u64, buf: &mut [u8]) {
    let head = head_len(offset, buf.len());
    let (first, rest) = buf.split_at_mut(head);
    for (i, b) in first.iter_mut().enumerate() {
        *b = byte_at(offset + i as u64);
    }
    let mut k = (offset + head as u64) / 8;
    let mut words = rest.chunks_exact_mut(8);
    for w in &mut words {
        w.copy_from_slice(&word(k).to_le_bytes());
        k += 1;
    }
    let tail = words.into_remainder();
    let bytes = word(k).to_le_bytes();
    tail.copy_from_slice(&bytes[..tail.len()]);
}

/// The first byte that differs from the pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Its offset in the stream.
    pub offset: u64,
    /// The pattern's byte there.
    pub expected: u8,
    /// The byte received.
    pub found: u8,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrong byte at stream offset {}: expected {:#04x}, found {:#04x}",
            self.offset, self.expected, self.found
        )
    }
}

impl std::error::Error for Mismatch {}

/// Bytes before the first 8-aligned stream offset, within `len`.
#[inline]
fn head_len(offset: u64, len: usize) -> usize {
    (((8 - offset % 8) % 8) as usize).min(len)
}

/// Checks that `data` holds the pattern's bytes `offset .. offset +
/// data.len()`; on failure, names the first wrong byte.
///
/// Works on a borrowed view (a received buffer) without copying it.
#[inline]
pub fn check(offset: u64, data: &[u8]) -> Result<(), Mismatch> {
    let head = head_len(offset, data.len());
    let (first, rest) = data.split_at(head);
    for (i, &b) in first.iter().enumerate() {
        check_byte(offset + i as u64, b)?;
    }
    let base = offset + head as u64;
    let mut k = base / 8;
    // Blocks of 32 words: the comparison of a block is branch-free; only a
    // block with a difference is searched byte by byte.
    const BLOCK: usize = 32 * 8;
    let mut blocks = rest.chunks_exact(BLOCK);
    for (bi, block) in (&mut blocks).enumerate() {
        let mut diff = 0u64;
        for (j, w) in block.chunks_exact(8).enumerate() {
            let got = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            diff |= got ^ word(k + j as u64);
        }
        if diff != 0 {
            return first_difference(base + (bi * BLOCK) as u64, block);
        }
        k += (BLOCK / 8) as u64;
    }
    let tail = blocks.remainder();
    let tail_start = base + (rest.len() - tail.len()) as u64;
    first_difference(tail_start, tail)
}

/// Compares bytewise (the slow path: a short tail, or a block known to
/// differ).
#[cold]
fn first_difference(offset: u64, data: &[u8]) -> Result<(), Mismatch> {
    for (i, &b) in data.iter().enumerate() {
        check_byte(offset + i as u64, b)?;
    }
    Ok(())
}

#[inline]
fn check_byte(offset: u64, found: u8) -> Result<(), Mismatch> {
    let expected = byte_at(offset);
    if found == expected {
        Ok(())
    } else {
        Err(Mismatch {
            offset,
            expected,
            found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_matches_byte_at_at_every_alignment() {
        for start in 0..17u64 {
            for len in [0usize, 1, 7, 8, 9, 255, 256, 257, 1000] {
                let mut buf = vec![0u8; len];
                fill(start, &mut buf);
                for (i, &b) in buf.iter().enumerate() {
                    assert_eq!(
                        b,
                        byte_at(start + i as u64),
                        "start {start} len {len} i {i}"
                    );
                }
                assert_eq!(check(start, &buf), Ok(()));
            }
        }
    }

    #[test]
    fn every_flipped_byte_is_found_first() {
        let mut buf = vec![0u8; 777];
        for start in [0u64, 3, 8, 4093] {
            fill(start, &mut buf);
            for i in 0..buf.len() {
                buf[i] ^= 0x80;
                let e = check(start, &buf).unwrap_err();
                assert_eq!(e.offset, start + i as u64);
                assert_eq!(e.found, e.expected ^ 0x80);
                buf[i] ^= 0x80;
            }
        }
    }

    #[test]
    fn a_misplaced_page_or_zeros_are_caught() {
        let mut a = vec![0u8; 4096];
        fill(4096, &mut a);
        assert!(check(0, &a).is_err());
        assert!(check(8192, &a).is_err());
        let zeros = [0u8; 64];
        assert!(check(0, &zeros).is_err());
        assert!(check(0, &zeros[..1]).is_err() || byte_at(0) == 0);
    }

    #[test]
    fn known_values() {
        // Pinned so that a change of the definition is noticed: other
        // programs (and the tests' expected digests) depend on it.
        assert_eq!(word(0), 0xE220_A839_7B1D_CDAF);
        let mut first = [0u8; 8];
        fill(0, &mut first);
        assert_eq!(first, word(0).to_le_bytes());
    }
}
