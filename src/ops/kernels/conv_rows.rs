//! The input of a 2-D NCHW convolution laid out so that a block of consecutive outputs of a row
//! reads consecutive values for every tap: the rows the kernel reads, zero-padded, each split into
//! column phases when the stride is larger than one.

use std::ops::Range;

use tract_core::ops::cnn::PoolSpec;
use tract_hir::internal::*;

/// The input channels and geometry of a run of the 2-D NCHW convolution `spec` on `input` (checked:
/// rank 4, `spec`'s input channels), and its output `[images, output channels, output height,
/// output width]`, uninitialised.
///
/// # Safety
/// The caller writes every value of the output before it is read.
pub unsafe fn uninitialized_output(
  spec: &PoolSpec,
  input: &Tensor,
) -> TractResult<(usize, Geometry, Tensor)> {
  let &[images, channels, height, width] = input.shape() else {
    bail!("2-D convolution of a rank-{} input", input.rank())
  };
  ensure!(
    channels == spec.input_channels,
    "{channels} input channels, expected {}",
    spec.input_channels
  );
  let geometry = Geometry::of(spec, height, width);
  let shape = [images, spec.output_channels, geometry.out_height, geometry.out_width];
  // SAFETY: as the caller guarantees.
  let output = unsafe { Tensor::uninitialized::<f32>(&shape)? };
  Ok((channels, geometry, output))
}

/// A 2-D convolution on one plane: input and output sizes, kernel, strides, dilations and the
/// padding before each axis.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
  pub height: usize,
  pub width: usize,
  pub kernel_height: usize,
  pub kernel_width: usize,
  pub stride_y: usize,
  pub stride_x: usize,
  pub dilation_y: usize,
  pub dilation_x: usize,
  pub top: usize,
  pub left: usize,
  pub out_height: usize,
  pub out_width: usize,
}

impl Geometry {
  /// The geometry of the convolution `spec` (2-D) on a `height` × `width` plane, padding and output
  /// size by tract's own rules.
  pub fn of(spec: &PoolSpec, height: usize, width: usize) -> Geometry {
    let padded = spec.computed_padding(&[height, width]);
    let (strides, dilations) = (spec.strides(), spec.dilations());
    Geometry {
      height,
      width,
      kernel_height: spec.kernel_shape[0],
      kernel_width: spec.kernel_shape[1],
      stride_y: strides[0],
      stride_x: strides[1],
      dilation_y: dilations[0],
      dilation_x: dilations[1],
      top: padded[0].pad_before,
      left: padded[1].pad_before,
      out_height: padded[0].convoluted,
      out_width: padded[1].convoluted,
    }
  }

  /// The input row kernel row `ky` reads for output row `y`, unless it lies in the padding.
  pub fn row(&self, y: usize, ky: usize) -> Option<usize> {
    let row = (y * self.stride_y + ky * self.dilation_y).wrapping_sub(self.top);
    (row < self.height).then_some(row)
  }

  /// The input rows output row `y` reads.
  fn rows_of(&self, y: usize) -> impl Iterator<Item = usize> + '_ {
    (0..self.kernel_height).filter_map(move |ky| self.row(y, ky))
  }
}

/// The input rows of `planes` planes that the kernel reads, as zero-padded rows, each split into
/// `stride_x` column phases: padded column `j` is value `j / stride_x` of phase `j % stride_x`.
/// Output column `x` of tap `kx` then reads value `x + kx · dilation_x / stride_x` of one phase, so
/// a block of outputs reads consecutive values.
///
/// With [`PhasedRows::with_padding_rows`], the rows of padding above and below are laid out too (as
/// zeros), so that every output row reads the same taps, one row stride further down.
pub struct PhasedRows {
  /// The geometry laid out for: with padding rows, one whose input starts at the first padding row.
  geometry: Geometry,
  /// Padding rows laid out above the input's first row.
  rows_above: usize,
  /// Values per phase: the output columns a reader covers, plus the kernel's reach.
  phase_len: usize,
  /// Where in a row tap column `kx` reads from: its phase's start plus its shift within the phase.
  tap_offsets: Vec<usize>,
  /// By input row: its place among the laid-out rows, if the kernel reads it (with strides larger
  /// than the kernel, some rows are never read: laying them all out would cost up to the stride
  /// times the output's size).
  slots: Vec<Option<usize>>,
  /// By phase: the values that lie inside the input (the same for every row), and the input column
  /// of the first.
  inside: Vec<(Range<usize>, usize)>,
  /// Values per plane: the laid-out rows times their phases.
  plane_len: usize,
  values: Vec<f32>,
}

impl PhasedRows {
  /// Zeroed rows for `planes` planes of `geometry`, at most the kernel's height per output row,
  /// each readable for `columns` (at least the output width) outputs from every tap.
  pub fn new(geometry: &Geometry, columns: usize, planes: usize) -> TractResult<PhasedRows> {
    let reach = (geometry.kernel_width - 1) * geometry.dilation_x / geometry.stride_x;
    let phase_len = columns.max(geometry.out_width) + reach + 1;
    let mut is_read = vec![false; geometry.height];
    for y in 0..geometry.out_height {
      geometry.rows_of(y).for_each(|row| is_read[row] = true);
    }
    let mut read = 0;
    let slots: Vec<Option<usize>> = is_read
      .into_iter()
      .map(|is_read| {
        is_read.then(|| {
          read += 1;
          read - 1
        })
      })
      .collect();
    let plane_len = read.checked_mul(geometry.stride_x).and_then(|n| n.checked_mul(phase_len));
    let len = plane_len.and_then(|n| n.checked_mul(planes));
    let mut values = Vec::new();
    let (Some(plane_len), Some(len)) =
      (plane_len, len.filter(|&len| values.try_reserve_exact(len).is_ok()))
    else {
      bail!("a convolution scratch of {planes} × {read} × {phase_len} values cannot be allocated")
    };
    values.resize(len, 0.0);
    let tap_offsets = (0..geometry.kernel_width)
      .map(|kx| kx * geometry.dilation_x)
      .map(|shift| shift % geometry.stride_x * phase_len + shift / geometry.stride_x)
      .collect();
    let Geometry { width, stride_x, left, .. } = *geometry;
    // Value t of phase p is padded column p + t · stride_x, input column p + t · stride_x − left.
    let inside = (0..stride_x)
      .map(|phase| {
        let first = left.saturating_sub(phase).div_ceil(stride_x).min(phase_len);
        let end = (width + left).saturating_sub(phase).div_ceil(stride_x).clamp(first, phase_len);
        (first..end, (phase + first * stride_x).saturating_sub(left))
      })
      .collect();
    Ok(PhasedRows {
      geometry: *geometry,
      rows_above: 0,
      phase_len,
      tap_offsets,
      slots,
      inside,
      plane_len,
      values,
    })
  }

  /// As [`PhasedRows::new`], with every row the kernel reads laid out, padding included, so that
  /// the rows output row `y` reads are those of row 0, `y · stride_y` rows further. `None` when
  /// some row in between is never read, or the padding would take more rows than the kernel reads.
  pub fn with_padding_rows(
    geometry: &Geometry,
    columns: usize,
    planes: usize,
  ) -> TractResult<Option<PhasedRows>> {
    let reach = (geometry.kernel_height - 1) * geometry.dilation_y + 1;
    let rows = (geometry.out_height.max(1) - 1) * geometry.stride_y + reach;
    if geometry.stride_y > reach || rows > geometry.out_height * geometry.kernel_height {
      return Ok(None);
    }
    let padded = Geometry { height: rows, top: 0, ..*geometry };
    let mut laid_out = PhasedRows::new(&padded, columns, planes)?;
    laid_out.rows_above = geometry.top;
    Ok(laid_out.slots.iter().all(Option::is_some).then_some(laid_out))
  }

  /// Values from one laid-out row to the next.
  pub fn row_len(&self) -> usize {
    self.geometry.stride_x * self.phase_len
  }

  /// The geometry the rows are laid out for.
  pub fn geometry(&self) -> &Geometry {
    &self.geometry
  }

  /// Lays out `plane` (height × width values) as plane `index`. The padding, never written, stays
  /// zero.
  pub fn fill(&mut self, index: usize, plane: &[f32]) {
    let laid_out = &mut self.values[index * self.plane_len..][..self.plane_len];
    let slots = self.slots.get(self.rows_above..).unwrap_or_default();
    lay_out(&self.geometry, slots, &self.inside, self.phase_len, plane, laid_out);
  }

  /// Lays out every plane of `planes` (one after the other, height × width values each), split
  /// over the intra-op threads when `work` (a count of values or operations) is worth it.
  pub fn fill_all(&mut self, planes: &[f32], work: usize) -> TractResult<()> {
    let PhasedRows { geometry, rows_above, slots, inside, phase_len, plane_len, values, .. } = self;
    let slots = slots.get(*rows_above..).unwrap_or_default();
    let count = values.len().checked_div(*plane_len).unwrap_or(0);
    // The input's planes, without the padding.
    let plane = planes.len().checked_div(count).unwrap_or(0);
    if plane == 0 {
      return Ok(());
    }
    tract_linalg::multithread::par_chunks_mut(values, *plane_len, work, |first, chunk| {
      let planes = planes[first * plane..].chunks_exact(plane);
      for (laid_out, plane) in chunk.chunks_exact_mut(*plane_len).zip(planes) {
        lay_out(geometry, slots, inside, *phase_len, plane, laid_out);
      }
      Ok(())
    })
  }

  /// Where, among [`PhasedRows::values`], the values of input row `row` of plane `plane` that tap
  /// column `kx` reads start (from the row's first output on).
  pub fn tap_offset(&self, plane: usize, row: usize, kx: usize) -> usize {
    let slot = self.slots[row].expect("a row the kernel reads is laid out");
    plane * self.plane_len + slot * self.row_len() + self.tap_offsets[kx]
  }

  /// The values of input row `row` of plane `plane` that tap column `kx` reads, from the row's
  /// first output on.
  pub fn tap(&self, plane: usize, row: usize, kx: usize) -> &[f32] {
    &self.values[self.tap_offset(plane, row, kx)..]
  }

  /// Every laid-out value.
  pub fn values(&self) -> &[f32] {
    &self.values
  }
}

/// Lays out `plane` into `laid_out` (one plane of [`PhasedRows`]): each input row with a slot (by
/// input row) at its slot, split into phases of `phase_len` values, each phase's `inside` values
/// copied, leaving the padding as it is.
fn lay_out(
  geometry: &Geometry,
  slots: &[Option<usize>],
  inside: &[(Range<usize>, usize)],
  phase_len: usize,
  plane: &[f32],
  laid_out: &mut [f32],
) {
  let Geometry { width, stride_x, .. } = *geometry;
  if width == 0 {
    return;
  }
  let row_len = stride_x * phase_len;
  for (row, &slot) in plane.chunks_exact(width).zip(slots) {
    let Some(slot) = slot else { continue };
    let phases = &mut laid_out[slot * row_len..][..row_len];
    for (values, (inside, column)) in phases.chunks_exact_mut(phase_len).zip(inside) {
      if inside.is_empty() {
        continue;
      }
      let inside = &mut values[inside.clone()];
      let row = &row[*column..=column + (inside.len() - 1) * stride_x];
      match stride_x {
        1 => inside.copy_from_slice(row),
        // The usual stride, with a constant step the compiler vectorises.
        2 => every_nth::<2>(row, inside),
        _ => inside.iter_mut().zip(row.iter().step_by(stride_x)).for_each(|(v, &x)| *v = x),
      }
    }
  }
}

/// Copies every `N`th value of `values`, from the first, into `into` (not empty).
fn every_nth<const N: usize>(values: &[f32], into: &mut [f32]) {
  let Some((last, rest)) = into.split_last_mut() else { return };
  rest.iter_mut().zip(values.chunks_exact(N)).for_each(|(value, chunk)| *value = chunk[0]);
  *last = values[rest.len() * N];
}
