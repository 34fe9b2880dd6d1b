//! Max pooling of one window shape over planes (`crate::ops::rewrite::max_pool`), in two passes:
//! the maximum down each window's rows, over whole contiguous rows, then across each window's
//! columns, with the row split by column phase so that each tap of consecutive windows reads
//! consecutive values. Both passes keep 8 maxima at a time in registers (accumulated in memory,
//! the compiler stores conditionally and loses most of it). Values are compared as tract compares
//! them: a NaN never replaces a value, and a window that lies wholly in the padding gives
//! `f32::MIN`.

use crate::cpu::Tier;

/// A pooling window on one plane: its size, strides and the padding before each axis.
pub struct Window {
  pub rows: usize,
  pub columns: usize,
  pub stride_y: usize,
  pub stride_x: usize,
  pub top: usize,
  pub left: usize,
}

/// The larger of `a` and `b` as tract compares (`b` replaces `a` only when greater).
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
  if a < b {
    b
  } else {
    a
  }
}

/// The rows or columns of `0..len` that window `index` covers with `size` taps from `stride *
/// index - before` (the padding before the axis), cut to the input.
fn taps(
  index: usize,
  stride: usize,
  before: usize,
  size: usize,
  len: usize,
) -> std::ops::Range<usize> {
  let start = (index * stride).saturating_sub(before);
  let end = (index * stride + size).saturating_sub(before).min(len);
  start.min(end)..end
}

impl Window {
  /// Pools each `height × width` plane of `source` into the next `out` plane of `target`, until
  /// `target` is full, compiled for `tier`: AVX2 on both x86-64 tiers (16 lanes at a time, the
  /// rows of a ResNet's 28 × 28 planes left long value-by-value tails), the baseline elsewhere.
  ///
  /// # Safety
  /// The CPU runs `tier`.
  pub unsafe fn pool(
    &self,
    tier: Tier,
    source: &[f32],
    shape: [usize; 2],
    target: &mut [f32],
    out: [usize; 2],
  ) {
    match tier {
      // SAFETY: as the caller guarantees; both tiers have AVX2.
      #[cfg(target_arch = "x86_64")]
      Tier::Avx512 | Tier::Avx2 => unsafe { self.pool_avx2(source, shape, target, out) },
      _ => self.pool_planes(source, shape, target, out),
    }
  }

  /// [`Window::pool`] compiled for AVX2, 8 lanes per register.
  #[cfg(target_arch = "x86_64")]
  #[target_feature(enable = "avx2")]
  unsafe fn pool_avx2(
    &self,
    source: &[f32],
    shape: [usize; 2],
    target: &mut [f32],
    out: [usize; 2],
  ) {
    self.pool_planes(source, shape, target, out)
  }

  /// [`Window::pool`], for whichever instructions the caller is compiled for.
  #[inline(always)]
  fn pool_planes(
    &self,
    source: &[f32],
    [height, width]: [usize; 2],
    target: &mut [f32],
    out: [usize; 2],
  ) {
    let mut column_maxima = vec![f32::MIN; width];
    let mut phases = vec![f32::MIN; width.div_ceil(self.stride_x) * self.stride_x];
    let sources = source.chunks_exact(height * width);
    for (source, target) in sources.zip(target.chunks_exact_mut(out[0] * out[1])) {
      for (y, target_row) in target.chunks_exact_mut(out[1]).enumerate() {
        self.column_maxima(source, width, height, y, &mut column_maxima);
        self.row_maxima(&column_maxima, &mut phases, target_row);
      }
    }
  }

  /// For output row `y`: the maximum of each input column over the window's rows.
  #[inline(always)]
  fn column_maxima(
    &self,
    plane: &[f32],
    width: usize,
    height: usize,
    y: usize,
    maxima: &mut [f32],
  ) {
    let rows = taps(y, self.stride_y, self.top, self.rows, height);
    elementwise_maxima(rows.map(|row| &plane[row * width..][..width]), maxima);
  }

  /// One output row: the maximum of `column_maxima` over each window's columns. The clipped
  /// windows at either end are folded value by value. Those wholly inside the row are folded tap
  /// by tap: with `column_maxima` split by column phase into `phases`, each tap of consecutive
  /// windows reads consecutive values.
  #[inline(always)]
  fn row_maxima(&self, column_maxima: &[f32], phases: &mut [f32], target: &mut [f32]) {
    let (stride, left, size) = (self.stride_x, self.left, self.columns);
    let first_inside = left.div_ceil(stride);
    let room = (column_maxima.len() + left).checked_sub(size);
    let inside_end = room.map_or(0, |room| room / stride + 1).max(first_inside);
    let inside = first_inside.min(target.len())..inside_end.min(target.len());
    for x in (0..inside.start).chain(inside.end..target.len()) {
      let window = &column_maxima[taps(x, stride, left, size, column_maxima.len())];
      target[x] = window.iter().fold(f32::MIN, |max, &value| larger(max, value));
    }
    let phase_len = column_maxima.len().div_ceil(stride);
    let phased = match stride {
      1 => column_maxima,
      // The usual stride, split pair by pair (value by value, as for other strides, took 1.7 times
      // as long).
      2 => {
        let (even, odd) = phases.split_at_mut(phase_len);
        for ((even, odd), pair) in even.iter_mut().zip(odd).zip(column_maxima.chunks_exact(2)) {
          (*even, *odd) = (pair[0], pair[1]);
        }
        if column_maxima.len() % 2 == 1 {
          even[phase_len - 1] = column_maxima[column_maxima.len() - 1];
        }
        phases
      }
      _ => {
        for (j, group) in column_maxima.chunks(stride).enumerate() {
          group
            .iter()
            .enumerate()
            .for_each(|(phase, &value)| phases[phase * phase_len + j] = value);
        }
        phases
      }
    };
    let (window, count) = (inside.start * stride - left, inside.len());
    let tap_values = (window..window + size)
      .map(|first| &phased[first % stride * phase_len + first / stride..][..count]);
    elementwise_maxima(tap_values, &mut target[inside]);
  }
}

/// `maxima[i]` = the largest `values[i]` of all the `values` slices (`f32::MIN` for none), 8 at a
/// time in registers.
#[inline(always)]
fn elementwise_maxima<'a>(values: impl Iterator<Item = &'a [f32]> + Clone, maxima: &mut [f32]) {
  const LANES: usize = 8;
  let whole = maxima.len() / LANES * LANES;
  let (chunks, tail) = maxima.split_at_mut(whole);
  for (chunk, start) in chunks.chunks_exact_mut(LANES).zip((0..).step_by(LANES)) {
    let mut lanes = [f32::MIN; LANES];
    for values in values.clone() {
      let values = &values[start..start + LANES];
      lanes.iter_mut().zip(values).for_each(|(max, &value)| *max = larger(*max, value));
    }
    chunk.copy_from_slice(&lanes);
  }
  for (i, max) in tail.iter_mut().enumerate() {
    *max = values.clone().fold(f32::MIN, |max, values| larger(max, values[whole + i]));
  }
}
