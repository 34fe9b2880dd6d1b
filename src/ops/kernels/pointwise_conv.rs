//! Tiles of a strided pointwise (1 × 1) convolution (`crate::ops::rewrite::pointwise_conv`), one
//! kernel per tier and tile shape.
//!
//! The values the outputs read are gathered into one row per input channel. A tile keeps output
//! channels × registers of outputs along the row in registers: each input channel costs one load
//! per register of outputs and one broadcast per output channel, from weights packed in blocks of
//! [`CHANNEL_ALIGN`] output channels, input channel after input channel (so that a tile streams its
//! weights from consecutive addresses). The sums are stored along the output's rows, one register
//! of outputs of one channel at a time.

#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2, Avx512, Simd};
use crate::cpu::Tier;

/// What the packed weights' output channels are padded to a multiple of: every tile's channels.
pub const CHANNEL_ALIGN: usize = 24;

/// A tile shape: `channels` output channels × `registers` registers of `lanes` outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileShape {
  pub channels: usize,
  pub registers: usize,
  pub lanes: usize,
}

/// The tile shapes of `tier`, each filling the same registers of sums (AVX-512: 24 of 32, AVX2: 12
/// of 16); `None` where the tier has no kernels.
pub fn tile_shapes(tier: Tier) -> Option<[TileShape; 3]> {
  let (lanes, shapes) = match tier {
    Tier::Avx512 => (16, [(8, 3), (12, 2), (24, 1)]),
    Tier::Avx2 => (8, [(4, 3), (6, 2), (12, 1)]),
    Tier::Neon | Tier::Portable => return None,
  };
  Some(shapes.map(|(channels, registers)| TileShape { channels, registers, lanes }))
}

/// One tile: up to the kernel's channels × registers of outputs.
pub struct Tile {
  /// The gathered rows, from the tile's first output on; the next input channel's row follows
  /// `row_len` values further.
  pub values: *const f32,
  pub row_len: usize,
  /// Input channels.
  pub depth: usize,
  /// The weights, from the tile's first output channel on; the next input channel's follow
  /// [`CHANNEL_ALIGN`] values further.
  pub weights: *const f32,
  pub bias: *const f32,
  /// The tile's first output; the next channel's follows `plane` values further.
  pub out: *mut f32,
  pub plane: usize,
  /// Output channels and outputs from the tile's first on (the kernel stores as many of each as
  /// it covers).
  pub channels: usize,
  pub outputs: usize,
}

/// A tile kernel for one tile shape.
///
/// # Safety
/// The CPU runs the tier the kernel was picked for; the tile's pointers are valid for the shape's
/// channels × registers (and the output for `tile.channels` × `tile.outputs` of them).
pub type TileFn = unsafe fn(&Tile);

/// The kernel of `shape`, one of [`tile_shapes`] of `tier`.
pub fn kernel(tier: Tier, shape: TileShape) -> TileFn {
  #[cfg(target_arch = "x86_64")]
  match (tier, shape.channels, shape.registers) {
    (Tier::Avx512, 8, 3) => return tile_avx512::<8, 3>,
    (Tier::Avx512, 12, 2) => return tile_avx512::<12, 2>,
    (Tier::Avx512, 24, 1) => return tile_avx512::<24, 1>,
    (Tier::Avx2, 4, 3) => return tile_avx2::<4, 3>,
    (Tier::Avx2, 6, 2) => return tile_avx2::<6, 2>,
    (Tier::Avx2, 12, 1) => return tile_avx2::<12, 1>,
    _ => {}
  }
  unreachable!("no {tier} pointwise kernel for {shape:?}")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512<const C: usize, const R: usize>(tile: &Tile) {
  // SAFETY: as the caller guarantees; this function has the features `Avx512` needs.
  unsafe { compute::<Avx512, C, R>(tile) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<const C: usize, const R: usize>(tile: &Tile) {
  // SAFETY: as the caller guarantees; this function has the features `Avx2` needs.
  unsafe { compute::<Avx2, C, R>(tile) }
}

/// Computes a tile of `C` output channels × `R` registers of outputs: sums over every input
/// channel, plus the bias, stored for the channels and outputs the tile holds.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn compute<S: Simd, const C: usize, const R: usize>(tile: &Tile) {
  // SAFETY (all pointer reads and writes): as [`TileFn`] requires.
  unsafe {
    let mut sums = [[S::zero(); R]; C];
    for channel in 0..tile.depth {
      let values = tile.values.add(channel * tile.row_len);
      let registers: [S::V; R] = std::array::from_fn(|r| S::load(values.add(r * S::LANES)));
      let weights = tile.weights.add(channel * CHANNEL_ALIGN);
      for (out_channel, sums) in sums.iter_mut().enumerate() {
        let weight = S::splat(*weights.add(out_channel));
        for (sum, &value) in sums.iter_mut().zip(&registers) {
          *sum = S::mul_add(weight, value, *sum);
        }
      }
    }
    for (out_channel, sums) in sums.iter().enumerate().take(tile.channels) {
      let bias = S::splat(*tile.bias.add(out_channel));
      for (register, &sum) in sums.iter().enumerate() {
        let Some(outputs) = tile.outputs.checked_sub(register * S::LANES).filter(|&n| n > 0) else {
          break;
        };
        let out = tile.out.add(out_channel * tile.plane + register * S::LANES);
        S::store_up_to(out, outputs, S::add(sum, bias));
      }
    }
  }
}
