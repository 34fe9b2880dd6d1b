//! Max pooling of one window shape over planes (`crate::ops::rewrite::max_pool`), in two passes:
//! the maximum down each window's rows, over whole contiguous rows, then across each window's
//! columns, with the row split by column phase so that each tap of consecutive windows reads
//! consecutive values. Both passes keep up to 32 maxima at a time in registers (accumulated in
//! memory, the compiler stores conditionally and loses most of it). Values are compared as tract
//! compares them: a NaN never replaces a value, and a window that lies wholly in the padding gives
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
    let columns = self.columns_of(width, out[1]);
    let mut column_maxima = vec![f32::MIN; width];
    let mut phases = vec![f32::MIN; columns.phase_len * self.stride_x];
    let sources = source.chunks_exact(height * width);
    for (source, target) in sources.zip(target.chunks_exact_mut(out[0] * out[1])) {
      for (y, target_row) in target.chunks_exact_mut(out[1]).enumerate() {
        self.column_maxima(source, width, height, y, &mut column_maxima);
        self.row_maxima(&columns, &column_maxima, &mut phases, target_row);
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

  /// How every output row of `out_width` windows folds its `width` column maxima.
  fn columns_of(&self, width: usize, out_width: usize) -> Columns {
    let (stride, left, size) = (self.stride_x, self.left, self.columns);
    let first_inside = left.div_ceil(stride);
    let room = (width + left).checked_sub(size);
    let inside_end = room.map_or(0, |room| room / stride + 1).max(first_inside);
    let inside = first_inside.min(out_width)..inside_end.min(out_width);
    let phase_len = width.div_ceil(stride);
    // From the first inside window's first column, if any window lies inside.
    let window = (inside.start * stride).saturating_sub(left);
    let taps = if inside.is_empty() { 0..0 } else { window..window + size };
    let tap_starts = taps.map(|first| first % stride * phase_len + first / stride).collect();
    Columns { inside, phase_len, tap_starts }
  }

  /// One output row: the maximum of `column_maxima` over each window's columns. The clipped
  /// windows at either end are folded value by value. Those wholly inside the row are folded tap
  /// by tap: with `column_maxima` split by column phase into `phases`, each tap of consecutive
  /// windows reads consecutive values.
  #[inline(always)]
  fn row_maxima(
    &self,
    columns: &Columns,
    column_maxima: &[f32],
    phases: &mut [f32],
    target: &mut [f32],
  ) {
    let (stride, inside) = (self.stride_x, columns.inside.clone());
    for x in (0..inside.start).chain(inside.end..target.len()) {
      let window = &column_maxima[taps(x, stride, self.left, self.columns, column_maxima.len())];
      target[x] = window.iter().fold(f32::MIN, |max, &value| larger(max, value));
    }
    let phase_len = columns.phase_len;
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
    let count = inside.len();
    let tap_values = columns.tap_starts.iter().map(|&start| &phased[start..][..count]);
    elementwise_maxima(tap_values, &mut target[inside]);
  }
}

/// How the windows of an output row cover its input columns, the same for every row of a plane.
struct Columns {
  /// The outputs whose windows lie wholly inside the row.
  inside: std::ops::Range<usize>,
  /// Values per column phase.
  phase_len: usize,
  /// Where each tap of the first inside window reads among the phased values (the next windows
  /// read the values after).
  tap_starts: Vec<usize>,
}

/// `maxima[i]` = the largest `values[i]` of all the `values` slices (`f32::MIN` for none): 32 at a
/// time in registers, then 8, and the last few as the 8 that end the row (computing some again), or
/// value by value in rows shorter than 8. Each value's maximum is a chain of dependent comparisons;
/// four registers of chains at once keep the vector unit busy.
#[inline(always)]
fn elementwise_maxima<'a>(values: impl Iterator<Item = &'a [f32]> + Clone, maxima: &mut [f32]) {
  let done = maxima_by::<32>(values.clone(), maxima, 0);
  let done = maxima_by::<8>(values.clone(), maxima, done);
  if done < maxima.len() {
    let last_eight = maxima.len().checked_sub(8);
    match last_eight {
      Some(from) => maxima_by::<8>(values, maxima, from),
      None => maxima_by::<1>(values, maxima, done),
    };
  }
}

/// [`elementwise_maxima`] of the whole groups of `N` values from `maxima[from]` on, `N` at a time;
/// returns where the groups end.
#[inline(always)]
fn maxima_by<'a, const N: usize>(
  values: impl Iterator<Item = &'a [f32]> + Clone,
  maxima: &mut [f32],
  from: usize,
) -> usize {
  let end = from + (maxima.len() - from) / N * N;
  for (group, start) in maxima[from..end].chunks_exact_mut(N).zip((from..).step_by(N)) {
    let mut lanes = [f32::MIN; N];
    for values in values.clone() {
      let values = &values[start..start + N];
      lanes.iter_mut().zip(values).for_each(|(max, &value)| *max = larger(*max, value));
    }
    group.copy_from_slice(&lanes);
  }
  end
}
