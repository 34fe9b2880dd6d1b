//! Feature hashing into N buckets, as scikit-learn's `FeatureHasher(input_type='string')`: the value's
//! text is hashed with signed 32-bit MurmurHash3 (seed 0); bucket `|h| mod N`, sign of `h` when
//! `alternateSign` (the default).

use serde::{Deserialize, Serialize};

use super::categories::category_key;
use crate::schema::value::Clean;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hash {
  pub buckets: usize,
  #[serde(default = "yes")]
  pub alternate_sign: bool,
}

fn yes() -> bool {
  true
}

impl Hash {
  pub fn encode(&self, value: &Clean, out: &mut [f32]) {
    out.fill(0.0);
    if let Some(text) = category_key(value) {
      let h = murmur3_32(text.as_bytes(), 0) as i32;
      let bucket = (h.unsigned_abs() as usize) % self.buckets;
      out[bucket] += if self.alternate_sign && h < 0 { -1.0 } else { 1.0 };
    }
  }
}

/// MurmurHash3 x86 32-bit.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
  const C1: u32 = 0xcc9e_2d51;
  const C2: u32 = 0x1b87_3593;
  let mut h = seed;
  let chunks = data.chunks_exact(4);
  let tail = chunks.remainder();
  for chunk in chunks {
    let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
    h ^= k;
    h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
  }
  let mut k = 0u32;
  for (i, byte) in tail.iter().enumerate() {
    k |= (*byte as u32) << (8 * i);
  }
  if !tail.is_empty() {
    h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
  }
  h ^= data.len() as u32;
  h ^= h >> 16;
  h = h.wrapping_mul(0x85eb_ca6b);
  h ^= h >> 13;
  h = h.wrapping_mul(0xc2b2_ae35);
  h ^= h >> 16;
  h
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn murmur3_matches_reference_vectors() {
    // sklearn.utils.murmurhash3_32(s, seed=0, positive=True) and the canonical test vectors.
    assert_eq!(murmur3_32(b"", 0), 0);
    assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
    assert_eq!(murmur3_32(b"hello", 0), 613_153_351);
    assert_eq!(murmur3_32(b"The quick brown fox jumps over the lazy dog", 0), 0x2e4f_f723);
  }
}
