//! Tiles of a product of row-major activations by packed constant weights
//! (`crate::ops::rewrite::dense_product`), one kernel per tier and tile shape.
//!
//! A tile keeps rows × blocks registers of sums while it runs along the summed axis: each step
//! costs one load per block of weights (packed in groups of a tile's columns, step after step) and
//! one broadcast per row of activations, read where they are. Sums start from the bias, or from
//! the output when a product runs in several chunks of steps.

#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2, Avx512, Simd};
use crate::cpu::Tier;

/// A tile's rows and registers (blocks) of columns, on a tier with `lanes` values per register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileShape {
  pub rows: usize,
  pub blocks: usize,
  pub lanes: usize,
}

impl TileShape {
  /// The shape for products of `columns` columns on `tier`: rows × blocks sums filling most of the
  /// tier's registers (AVX-512: 24 of 32, AVX2: 12 of 16), the rest holding a step's weights and
  /// a broadcast. Narrow tiles (one register of columns, more rows) take products of up to one
  /// register of columns, such as a classifier's last layer. `None` where the tier has no kernel,
  /// or where a wide tile would be mostly empty.
  pub fn of(tier: Tier, columns: usize) -> Option<TileShape> {
    let (lanes, wide, narrow, min_wide_columns) = match tier {
      Tier::Avx512 => (16, (6, 4), (24, 1), 64),
      Tier::Avx2 => (8, (6, 2), (12, 1), 9),
      Tier::Neon | Tier::Portable => return None,
    };
    let (rows, blocks) = if columns <= lanes {
      narrow
    } else if columns >= min_wide_columns {
      wide
    } else {
      return None;
    };
    Some(TileShape { rows, blocks, lanes })
  }

  /// Columns of a tile, and of a group of packed weights.
  pub fn group(&self) -> usize {
    self.blocks * self.lanes
  }
}

/// One tile: rows of activations by a group of columns of weights.
pub struct Tile {
  /// The tile's first row of activations, from its first step on; the next rows follow every
  /// `depth` values.
  pub values: *const f32,
  pub depth: usize,
  /// Steps the tile takes along the summed axes.
  pub steps: usize,
  /// The group's packed weights, from the tile's first step on, and its bias.
  pub weights: *const f32,
  pub bias: *const f32,
  /// The tile's first output; the next row's follows `out_row` values further.
  pub out: *mut f32,
  pub out_row: usize,
  /// Whether the sums start from the bias (the first chunk of steps) or from the output (the sums
  /// so far).
  pub first: bool,
  /// Whether outputs below zero are stored as zero (on the last chunk).
  pub relu: bool,
  /// Rows and columns of the tile that the output holds.
  pub rows: usize,
  pub columns: usize,
}

/// A tile kernel.
///
/// # Safety
/// The CPU runs the tier the kernel was picked for; `tile.values` holds the shape's rows of `depth`
/// values, `tile.weights` and `tile.bias` a group, and `tile.out` `tile.rows` rows of
/// `tile.columns` values.
pub type TileFn = unsafe fn(&Tile);

/// Row counts below a whole tile that have kernels of their own: a product's last rows (or a
/// product of a few rows, such as one sentence's tokens or a batch of one) compute only what they
/// hold, not a whole tile of zeros.
const PARTIAL_ROWS: [usize; 4] = [1, 2, 4, 8];

/// The kernel for `rows` rows (at most `shape.rows`) of tiles of `shape`, as [`TileShape::of`]
/// gives it for `tier`: the smallest kernel that holds them.
pub fn kernel(tier: Tier, shape: TileShape, rows: usize) -> TileFn {
  let rows = PARTIAL_ROWS.into_iter().find(|&r| r >= rows && r < shape.rows).unwrap_or(shape.rows);
  #[cfg(target_arch = "x86_64")]
  match (tier, shape.blocks, rows) {
    (Tier::Avx512, 4, 1) => return tile_avx512::<1, 4>,
    (Tier::Avx512, 4, 2) => return tile_avx512::<2, 4>,
    (Tier::Avx512, 4, 4) => return tile_avx512::<4, 4>,
    (Tier::Avx512, 4, 6) => return tile_avx512::<6, 4>,
    (Tier::Avx512, 1, 1) => return tile_avx512::<1, 1>,
    (Tier::Avx512, 1, 2) => return tile_avx512::<2, 1>,
    (Tier::Avx512, 1, 4) => return tile_avx512::<4, 1>,
    (Tier::Avx512, 1, 8) => return tile_avx512::<8, 1>,
    (Tier::Avx512, 1, 24) => return tile_avx512::<24, 1>,
    (Tier::Avx2, 2, 1) => return tile_avx2::<1, 2>,
    (Tier::Avx2, 2, 2) => return tile_avx2::<2, 2>,
    (Tier::Avx2, 2, 4) => return tile_avx2::<4, 2>,
    (Tier::Avx2, 2, 6) => return tile_avx2::<6, 2>,
    (Tier::Avx2, 1, 1) => return tile_avx2::<1, 1>,
    (Tier::Avx2, 1, 2) => return tile_avx2::<2, 1>,
    (Tier::Avx2, 1, 4) => return tile_avx2::<4, 1>,
    (Tier::Avx2, 1, 8) => return tile_avx2::<8, 1>,
    (Tier::Avx2, 1, 12) => return tile_avx2::<12, 1>,
    _ => {}
  }
  unreachable!("no {tier} product kernel for {rows} rows of {shape:?}")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512<const ROWS: usize, const BLOCKS: usize>(tile: &Tile) {
  // SAFETY: as the caller guarantees; this function has the features `Avx512` needs.
  unsafe { compute::<Avx512, ROWS, BLOCKS>(tile) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<const ROWS: usize, const BLOCKS: usize>(tile: &Tile) {
  // SAFETY: as the caller guarantees; this function has the features `Avx2` needs.
  unsafe { compute::<Avx2, ROWS, BLOCKS>(tile) }
}

/// Computes a tile over one chunk of steps: the sums from the bias (first chunk) or the output,
/// plus every step's products, stored (at least zero with a ReLU) for the rows and columns the
/// output holds.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn compute<S: Simd, const ROWS: usize, const BLOCKS: usize>(tile: &Tile) {
  // SAFETY (all pointer reads and writes): as [`TileFn`] requires.
  unsafe {
    let columns = |block: usize| tile.columns.saturating_sub(block * S::LANES);
    let mut sums = [[S::zero(); BLOCKS]; ROWS];
    for (row, sums) in sums.iter_mut().enumerate().take(tile.rows) {
      for (block, sum) in sums.iter_mut().enumerate() {
        let at = block * S::LANES;
        *sum = match (tile.first, columns(block)) {
          (_, 0) => S::zero(),
          (true, _) => S::load(tile.bias.add(at)),
          (false, count) => S::load_up_to(tile.out.add(row * tile.out_row + at), count),
        };
      }
    }
    for step in 0..tile.steps {
      let weights_of_step = tile.weights.add(step * BLOCKS * S::LANES);
      let weights: [S::V; BLOCKS] =
        std::array::from_fn(|block| S::load(weights_of_step.add(block * S::LANES)));
      for (row, sums) in sums.iter_mut().enumerate() {
        let value = S::splat(*tile.values.add(row * tile.depth + step));
        for (sum, &weights) in sums.iter_mut().zip(&weights) {
          *sum = S::mul_add(weights, value, *sum);
        }
      }
    }
    for (row, sums) in sums.iter().enumerate().take(tile.rows) {
      for (block, &sum) in sums.iter().enumerate() {
        let count = columns(block);
        if count == 0 {
          break;
        }
        let value = if tile.relu { S::max(sum, S::zero()) } else { sum };
        S::store_up_to(tile.out.add(row * tile.out_row + block * S::LANES), count, value);
      }
    }
  }
}
