//! Tiles of a dense 2-D convolution (`crate::ops::rewrite::dense_conv`), one kernel per tier and
//! tile shape.
//!
//! A tile covers rows × columns outputs by blocks of output channels (one register of channels per
//! block) and keeps their sums in registers while it runs through every tap: each tap costs one load
//! per block of weights (packed tap after tap) and one broadcast per output, for rows × columns ×
//! blocks fused multiply-adds. The laid-out rows make every tap of a row's outputs read consecutive
//! values. A store shared by every kernel of a tier writes each register of channels to its planes.
//! A tile may run its taps in chunks (`Tile::first`, `Tile::last`): its sums then wait in memory
//! between chunks, and it can ask the L2 cache for a later chunk's weights as it goes.
//!
//! One kernel is compiled per tile shape the tilings make (AVX-512: 53, AVX2: 29), to keep the
//! package small.

#[cfg(target_arch = "x86_64")]
use super::simd::{Avx2, Avx512, Simd, MAX_LANES};
use crate::cpu::Tier;

/// What a tier's tiles may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileLimits {
  /// Output channels per block: one register.
  pub lanes: usize,
  /// Most outputs of a row a tile covers.
  pub columns: usize,
  /// Rows are stacked (a tile covers several) when a row takes tiles of at most this many
  /// outputs.
  pub stacking_columns: usize,
  /// Most outputs of a row a tile covers when it covers several rows.
  pub stacked_columns: usize,
  /// Most rows a tile covers (1, 2 or 4).
  pub rows: usize,
  /// Most blocks of output channels a tile covers.
  pub blocks: usize,
  /// Most registers of sums (the rest of the tier's registers hold a tap's weights and a
  /// broadcast).
  pub sums: usize,
  /// The tier's vector registers.
  pub registers: usize,
  /// Whether a broadcast value is an instruction of its own (AVX2), rather than an operand of the
  /// multiply-add (AVX-512's embedded broadcast).
  pub separate_broadcasts: bool,
}

impl TileLimits {
  /// The limits of `tier`'s tiles, `None` where it has no kernels.
  pub fn of(tier: Tier) -> Option<TileLimits> {
    match tier {
      Tier::Avx512 => Some(TileLimits {
        lanes: 16,
        columns: 12,
        stacking_columns: 4,
        stacked_columns: 4,
        rows: 4,
        blocks: 3,
        sums: 24,
        registers: 32,
        separate_broadcasts: false,
      }),
      Tier::Avx2 => Some(TileLimits {
        lanes: 8,
        columns: 6,
        // Rows are always stacked (where the image has more than one): tiles of 2 × 2 outputs by
        // 3 blocks hold 12 sums and load 7 registers for their 12 multiply-adds, where a row's
        // 1 × 6 × 2 loads 8 and covers rows of 28 with 30 outputs.
        stacking_columns: 6,
        stacked_columns: 2,
        rows: 4,
        blocks: 3,
        sums: 12,
        registers: 16,
        separate_broadcasts: true,
      }),
      Tier::Neon | Tier::Portable => None,
    }
  }
}

/// One tile: rows (as many as its kernel takes) of `columns` outputs by `channels` output channels.
#[derive(Clone, Copy)]
pub struct Tile<'a> {
  /// The laid-out values, from the tile's first column on.
  pub values: *const f32,
  /// The first row's taps (where each reads from, and its index among the kernel's taps); the next
  /// rows read `row_step` values further each (rows laid out with their padding).
  pub taps: &'a [(u32, u32)],
  pub row_step: usize,
  /// The tile's first block of weights; the next ones follow every `block_len` values.
  pub weights: *const f32,
  pub block_len: usize,
  pub bias: *const f32,
  /// Where the sums wait from one chunk of the taps to the next, when the taps run in chunks
  /// ([`MAX_SUMS`] registers of the tier, by row, column then block).
  pub partial: *mut f32,
  /// Whether `taps` are the first chunk (the sums start from the bias, else from `partial`) and
  /// the last (the sums go to the output, else to `partial`).
  pub first: bool,
  pub last: bool,
  /// Taps whose weights (from tap `prefetch_from` on) to ask the L2 cache for, one per tap the
  /// tile runs: those of a chunk that comes later.
  pub prefetch_from: usize,
  pub prefetch_taps: usize,
  /// Whether outputs below zero are stored as zero.
  pub relu: bool,
  /// The tile's first output; the next row's follows `out_width` values further, the next
  /// channel's `plane` values.
  pub out: *mut f32,
  pub plane: usize,
  pub out_width: usize,
  pub channels: usize,
  pub columns: usize,
}

/// The most registers of sums a tile of any tier holds (AVX-512's 24).
pub const MAX_SUMS: usize = 24;

/// The values [`MAX_SUMS`] registers of 16 lanes (AVX-512's, the widest) hold: room enough for
/// any tile's [`Tile::partial`].
pub const MAX_SUM_VALUES: usize = MAX_SUMS * 16;

/// A tile kernel for one number of rows, columns and blocks.
///
/// # Safety
/// The CPU runs the tier the kernel was picked for; the tile's values hold every tap of its rows
/// and columns, its weights and bias every block it covers, its output `channels` planes of its
/// rows' first `columns` outputs, and `partial` (unless the taps are first and last) its sums.
pub type TileFn = unsafe fn(&Tile);

/// The kernel of `rows` × `columns` × `blocks` on `tier`, where one is compiled: the tilings make
/// only those shapes; a row's last, narrower tile uses one where there is one.
pub fn kernel(tier: Tier, rows: usize, columns: usize, blocks: usize) -> Option<TileFn> {
  #[cfg(target_arch = "x86_64")]
  {
    macro_rules! kernels {
      ($function:ident: $(($rows:literal $columns:literal $blocks:literal))*) => {
        match (rows, columns, blocks) {
          $(($rows, $columns, $blocks) => return Some($function::<$rows, $columns, $blocks>),)*
          _ => {}
        }
      };
    }
    match tier {
      Tier::Avx512 => kernels!(tile_avx512:
        (1 1 1) (1 1 2) (1 1 3) (1 2 1) (1 2 2) (1 2 3) (1 3 1) (1 3 2) (1 3 3) (1 4 1) (1 4 2)
        (1 4 3) (1 5 1) (1 5 2) (1 5 3) (1 6 1) (1 6 2) (1 6 3) (1 7 1) (1 7 2) (1 7 3) (1 8 1)
        (1 8 2) (1 8 3) (1 9 1) (1 9 2) (1 10 1) (1 10 2) (1 11 1) (1 11 2) (1 12 1) (1 12 2)
        (2 1 1) (2 1 2) (2 1 3) (2 2 1) (2 2 2) (2 2 3) (2 3 1) (2 3 2) (2 3 3) (2 4 1) (2 4 2)
        (2 4 3) (4 1 1) (4 1 2) (4 1 3) (4 2 1) (4 2 2) (4 2 3) (4 3 1) (4 3 2) (4 4 1)
      ),
      Tier::Avx2 => kernels!(tile_avx2:
        (1 1 1) (1 1 2) (1 1 3) (1 2 1) (1 2 2) (1 2 3) (1 3 1) (1 3 2) (1 3 3) (1 4 1) (1 4 2)
        (1 5 1) (1 5 2) (1 6 1) (1 6 2) (2 1 1) (2 1 2) (2 1 3) (2 2 1) (2 2 2) (2 2 3) (2 3 1)
        (2 3 2) (2 4 1) (4 1 1) (4 1 2) (4 1 3) (4 2 1) (4 3 1)
      ),
      Tier::Neon | Tier::Portable => {}
    }
  }
  // Elsewhere no tier has kernels.
  #[cfg(not(target_arch = "x86_64"))]
  let _ = (tier, rows, columns, blocks);
  None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512<const R: usize, const C: usize, const B: usize>(tile: &Tile) {
  // SAFETY: as the caller guarantees; this function has the features `Avx512` needs.
  unsafe { compute::<Avx512, R, C, B, 24>(tile, |sums| store_avx512(sums, [R, C, B], tile)) };
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<const R: usize, const C: usize, const B: usize>(tile: &Tile) {
  // SAFETY: as the caller guarantees; this function has the features `Avx2` needs.
  unsafe { compute::<Avx2, R, C, B, 12>(tile, |sums| store_avx2(sums, [R, C, B], tile)) };
}

/// The tile's sums, by row, column then block (`R · C · B` of them, at most `N`): the bias, plus
/// every tap's weights times its values; then `store` of them.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn compute<S: Simd, const R: usize, const C: usize, const B: usize, const N: usize>(
  tile: &Tile,
  store: impl FnOnce(&[S::V]),
) {
  const { assert!(N <= MAX_SUMS && N * S::LANES <= MAX_SUM_VALUES) };
  // SAFETY (all pointer reads and writes): as [`TileFn`] requires.
  unsafe {
    // Every output's sums start from the bias, or from where its chunk before left them.
    let (start, step) =
      if tile.first { (tile.bias, 0) } else { (tile.partial.cast_const(), B * S::LANES) };
    let mut tile_sums = [[[S::zero(); B]; C]; R];
    for (row, sums) in tile_sums.iter_mut().enumerate() {
      for (column, sums) in sums.iter_mut().enumerate() {
        let start = start.add((row * C + column) * step);
        for (block, sum) in sums.iter_mut().enumerate() {
          *sum = S::load(start.add(block * S::LANES));
        }
      }
    }
    // The taps that prefetch, then the others (a test in the loop cost 3 % on AVX2).
    let (prefetching, rest) = tile.taps.split_at(tile.prefetch_taps.min(tile.taps.len()));
    for (index, &tap) in prefetching.iter().enumerate() {
      add_tap::<S, R, C, B>(tile, tap, &mut tile_sums);
      for block in 0..B {
        let at = block * tile.block_len + (tile.prefetch_from + index) * S::LANES;
        prefetch(tile.weights.wrapping_add(at));
      }
    }
    for &tap in rest {
      add_tap::<S, R, C, B>(tile, tap, &mut tile_sums);
    }
    // Copied out only once every tap is done, so that the sums stay in registers meanwhile.
    let mut sums = [S::zero(); N];
    let mut next = 0;
    for row in &tile_sums {
      for column in row {
        for &sum in column {
          sums[next] = sum;
          next += 1;
        }
      }
    }
    if tile.last {
      store(&sums[..next]);
    } else {
      for (index, &sum) in sums[..next].iter().enumerate() {
        S::store(tile.partial.add(index * S::LANES), sum);
      }
    }
  }
}

/// Adds one tap (where its values start, and its index among the kernel's taps) to the tile's sums
/// (see [`compute`]).
///
/// # Safety
/// As [`TileFn`] requires.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn add_tap<S: Simd, const R: usize, const C: usize, const B: usize>(
  tile: &Tile,
  (offset, tap): (u32, u32),
  tile_sums: &mut [[[S::V; B]; C]; R],
) {
  let (offset, tap) = (offset as usize, tap as usize);
  // SAFETY (all pointer reads): as the caller guarantees.
  unsafe {
    let weights: [S::V; B] = std::array::from_fn(|block| {
      S::load(tile.weights.add(block * tile.block_len + tap * S::LANES))
    });
    for (row, sums) in tile_sums.iter_mut().enumerate() {
      let values = tile.values.add(offset + row * tile.row_step);
      for (column, sums) in sums.iter_mut().enumerate() {
        let value = S::splat(*values.add(column));
        for (sum, weights) in sums.iter_mut().zip(&weights) {
          *sum = S::mul_add(*weights, value, *sum);
        }
      }
    }
  }
}

/// Asks the L2 cache for the line that holds `at` (an address that may lie past the weights: a
/// prefetch never faults).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch(at: *const f32) {
  use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
  // SAFETY: SSE, which every x86-64 CPU has; a prefetch reads nothing the program sees.
  unsafe { _mm_prefetch::<_MM_HINT_T1>(at.cast()) };
}

/// Stores a tile's sums (by row, column then block: `shape`, each register one output's channels
/// of a block): the first `tile.columns` outputs of each row, at least zero with `tile.relu`. Each
/// register's lanes go to their planes through `write`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn store<S: Simd>(
  sums: &[S::V],
  [rows, columns, blocks]: [usize; 3],
  tile: &Tile,
  write: impl Fn(*mut f32, usize, S::V),
) {
  let mut sums = sums.iter();
  for row in 0..rows {
    for column in 0..columns {
      for block in 0..blocks {
        let Some(&sum) = sums.next() else { return };
        if column >= tile.columns {
          continue;
        }
        // SAFETY: the tier's intrinsics, in a function compiled for them (the callers).
        let sum = if tile.relu { unsafe { S::max(sum, S::zero()) } } else { sum };
        let channels = tile.channels.saturating_sub(block * S::LANES).min(S::LANES);
        let at = block * S::LANES * tile.plane + row * tile.out_width + column;
        // SAFETY: the output holds every channel of the tile, `tile.columns` outputs from each of
        // its rows' first.
        write(unsafe { tile.out.add(at) }, channels, sum);
      }
    }
  }
}

/// Writes the first `channels` lanes of `sum` to `first`, one plane (`plane` values) apart.
///
/// # Safety
/// As [`store`] calls it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn write_lanes<S: Simd>(first: *mut f32, plane: usize, channels: usize, sum: S::V) {
  // SAFETY: the caller's function is compiled for the tier; the planes hold the lanes.
  unsafe {
    let lanes: [f32; MAX_LANES] = S::lanes(sum);
    for (lane, &value) in lanes.iter().enumerate().take(channels) {
      *first.add(lane * plane) = value;
    }
  }
}

/// [`store`] on AVX-512: each register scattered to its 16 planes at once, or lane by lane for
/// planes past the scatter's 32-bit offsets.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline(never)]
fn store_avx512(sums: &[std::arch::x86_64::__m512], shape: [usize; 3], tile: &Tile) {
  let fits = i32::try_from(tile.plane).ok().and_then(|plane| plane.checked_mul(16));
  store_avx512_with(sums, shape, tile, fits.is_some());
}

/// [`store_avx512`], scattering or not.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn store_avx512_with(
  sums: &[std::arch::x86_64::__m512],
  shape: [usize; 3],
  tile: &Tile,
  scatter: bool,
) {
  use std::arch::x86_64::*;
  let offsets = _mm512_mullo_epi32(
    _mm512_set1_epi32(tile.plane as i32),
    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
  );
  store::<Avx512>(sums, shape, tile, |first, channels, sum| {
    // SAFETY: `first` and the planes after it hold `channels` lanes (see `store`).
    unsafe {
      if scatter {
        let mask = ((1u32 << channels) - 1) as __mmask16;
        _mm512_mask_i32scatter_ps::<4>(first.cast(), mask, offsets, sum);
      } else {
        write_lanes::<Avx512>(first, tile.plane, channels, sum);
      }
    }
  });
}

/// [`store`] on AVX2: two neighbouring outputs of a row at once where both are kept and the block
/// is full, their registers interleaved so that each channel's pair goes out in one 8-byte store
/// (8 stores for 16 values); other outputs lane by lane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
fn store_avx2(
  sums: &[std::arch::x86_64::__m256],
  [rows, columns, blocks]: [usize; 3],
  tile: &Tile,
) {
  use std::arch::x86_64::*;
  let relu = |sum| if tile.relu { _mm256_max_ps(sum, _mm256_setzero_ps()) } else { sum };
  for row in 0..rows {
    for column in (0..columns.min(tile.columns)).step_by(2) {
      for block in 0..blocks {
        let sum = |column: usize| relu(sums[(row * columns + column) * blocks + block]);
        let channels = tile.channels.saturating_sub(block * 8).min(8);
        let at = block * 8 * tile.plane + row * tile.out_width + column;
        // SAFETY: the output holds every channel of the tile, `tile.columns` outputs from each of
        // its rows' first; the stores write only those.
        unsafe {
          let first = tile.out.add(at);
          if column + 1 < tile.columns && channels == 8 {
            // Lanes (0, 1, 4, 5) of the first column, each beside the second's; then (2, 3, 6, 7).
            let (low, high) = (sum(column), sum(column + 1));
            let pairs = [_mm256_unpacklo_ps(low, high), _mm256_unpackhi_ps(low, high)];
            for (half, pairs) in pairs.into_iter().enumerate() {
              let lanes = [_mm256_castps256_ps128(pairs), _mm256_extractf128_ps::<1>(pairs)];
              for (quarter, lanes) in lanes.into_iter().enumerate() {
                let channel = quarter * 4 + half * 2;
                let lanes = _mm_castps_pd(lanes);
                _mm_storel_pd(first.add(channel * tile.plane).cast(), lanes);
                _mm_storeh_pd(first.add((channel + 1) * tile.plane).cast(), lanes);
              }
            }
          } else {
            write_lanes::<Avx2>(first, tile.plane, channels, sum(column));
            if column + 1 < tile.columns {
              write_lanes::<Avx2>(first.add(1), tile.plane, channels, sum(column + 1));
            }
          }
        }
      }
    }
  }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
  use super::*;

  /// Each lane of sum `index` holds `index · 100 + lane`.
  fn sums<S: Simd>(count: usize) -> Vec<S::V> {
    (0..count)
      .map(|index| {
        let lanes: Vec<f32> = (0..S::LANES).map(|lane| (index * 100 + lane) as f32).collect();
        // SAFETY: `lanes` holds LANES values; the test runs on a CPU with the tier.
        unsafe { S::load(lanes.as_ptr()) }
      })
      .collect()
  }

  /// Checks the store of 2 rows × 3 columns × 2 blocks of sums, of channels that end 4 lanes into
  /// the second block, `kept` of the 3 columns kept, in outputs of rows of 5 in planes of 10.
  fn check_store<S: Simd>(kept: usize, store: impl Fn(&[S::V], [usize; 3], &Tile)) {
    let (plane, out_width) = (10, 5);
    let channels = S::LANES + 4;
    let mut out = vec![-1f32; channels * plane];
    let tile = Tile {
      values: std::ptr::null(),
      taps: &[],
      row_step: 0,
      weights: std::ptr::null(),
      block_len: 0,
      bias: std::ptr::null(),
      partial: std::ptr::null_mut(),
      first: true,
      last: true,
      prefetch_from: 0,
      prefetch_taps: 0,
      relu: false,
      out: out.as_mut_ptr(),
      plane,
      out_width,
      channels,
      columns: kept,
    };
    store(&sums::<S>(12), [2, 3, 2], &tile);
    for (channel, plane) in out.chunks_exact(plane).enumerate() {
      let (block, lane) = (channel / S::LANES, channel % S::LANES);
      for (at, &value) in plane.iter().enumerate() {
        let (row, column) = (at / out_width, at % out_width);
        let want = if row < 2 && column < kept {
          (((row * 3 + column) * 2 + block) * 100 + lane) as f32
        } else {
          -1.0
        };
        assert_eq!(value, want, "{kept} kept: channel {channel}, row {row}, column {column}");
      }
    }
  }

  crate::cpu::test_each_tier! {
    fn every_store_writes_each_channel_s_row_segments(tier: Tier) {
      // SAFETY (each arm): the CPU runs the tier (the test is skipped otherwise).
      for kept in 1..=3 {
        match tier {
          Tier::Avx512 => {
            for scatter in [true, false] {
              check_store::<Avx512>(kept, |sums, shape, tile| unsafe {
                store_avx512_with(sums, shape, tile, scatter)
              });
            }
          }
          Tier::Avx2 => check_store::<Avx2>(kept, |sums, shape, tile| unsafe {
            store_avx2(sums, shape, tile)
          }),
          Tier::Neon | Tier::Portable => assert!(TileLimits::of(tier).is_none()),
        }
      }
    }
  }
}
