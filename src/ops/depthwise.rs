//! Depthwise 2-D convolutions of f32 planes (NCHW: one kernel per channel, as MobileNet-style models
//! run them) computed row by row. tract's `DepthWise` walks every output point and gathers its taps;
//! here each plane is first copied into zero-padded rows, split by column phase when the stride is
//! larger than one, so that every tap of a block of 32 outputs reads 32 consecutive values: the block
//! stays in registers while all taps are accumulated, with fused multiply-adds where the CPU has them.
//!
//! Replaces the `Conv` before tract's codegen, so it also covers shapes tract only knows at run time
//! (text recognisers take images of any width): the padding and output size are computed per run
//! with tract's own rules.

use tract_core::ops::cnn::Conv;
use tract_hir::internal::*;

use super::conv_rows::{is_plain_2d, Geometry, PhasedRows};

/// Output columns accumulated together in registers.
const BLOCK: usize = 32;

/// One tap of a kernel on an output row: the values it reads, from the row's first output on, and
/// its weight.
type Tap<'a> = (&'a [f32], f32);

/// Replaces every f32 NCHW 2-D depthwise `Conv` (one input and one output channel per group, constant
/// OIHW kernel and bias) by [`PlaneDepthwiseConv`]. Call after declutter, before tract's codegen.
pub fn replace_depthwise_convolutions(model: &mut TypedModel) -> TractResult<()> {
  for id in 0..model.nodes().len() {
    let node = model.node(id);
    let Some(conv) = node.op_as::<Conv>() else { continue };
    if is_plain_depthwise(model, node, conv)? {
      model.node_mut(id).op = Box::new(PlaneDepthwiseConv { conv: conv.clone() });
    }
  }
  Ok(())
}

/// Whether `conv` (at `node`) is a depthwise convolution [`PlaneDepthwiseConv`] computes.
fn is_plain_depthwise(model: &TypedModel, node: &TypedNode, conv: &Conv) -> TractResult<bool> {
  let channels = conv.pool_spec.input_channels;
  Ok(
    conv.group > 1
      && conv.group == channels
      && conv.pool_spec.output_channels == channels
      && is_plain_2d(model, node, conv)?,
  )
}

/// tract's depthwise `Conv`, evaluated plane by plane (see the module doc). Its inputs are the
/// image, the `[C, 1, kh, kw]` kernel and the bias (one value per channel, or one for all).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct PlaneDepthwiseConv {
  conv: Conv,
}

impl Op for PlaneDepthwiseConv {
  fn name(&self) -> StaticName {
    "DepthwiseConv".into()
  }

  fn info(&self) -> TractResult<Vec<String>> {
    Ok(self.conv.pool_spec.info())
  }

  op_as_typed_op!();
}

impl TypedOp for PlaneDepthwiseConv {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    self.conv.output_facts(inputs)
  }

  fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
    self.conv.cost(inputs)
  }

  as_op!();
}

impl EvalOp for PlaneDepthwiseConv {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let (input, kernel, bias) = args_3!(inputs);
    let shape = input.shape();
    let rank = shape.len();
    ensure!(rank >= 3, "depthwise convolution of a rank-{rank} input");
    let geometry = Geometry::of(&self.conv.pool_spec, shape[rank - 2], shape[rank - 1]);
    let mut output_shape: TVec<usize> = shape.into();
    output_shape[rank - 2] = geometry.out_height;
    output_shape[rank - 1] = geometry.out_width;
    // SAFETY: every plane of the output is written below.
    let mut output = unsafe { Tensor::uninitialized::<f32>(&output_shape)? };
    let out_plane = geometry.out_height * geometry.out_width;
    if output.len() == 0 {
      return Ok(tvec!(output.into_tvalue()));
    }
    let channels = self.conv.pool_spec.input_channels;
    let taps = geometry.kernel_height * geometry.kernel_width;
    let (source, kernel, bias) =
      (input.try_as_plain_ram()?, kernel.try_as_plain_ram()?, bias.try_as_plain_ram()?);
    let (source, kernel, bias) =
      (source.as_slice::<f32>()?, kernel.as_slice::<f32>()?, bias.as_slice::<f32>()?);
    ensure!(
      kernel.len() == channels * taps && [1, channels].contains(&bias.len()),
      "depthwise kernel of {} values and bias of {} for {channels} channels of {taps} taps",
      kernel.len(),
      bias.len()
    );
    let plane = geometry.height * geometry.width;
    let mut target = output.try_as_plain_ram_mut()?;
    let target = target.as_slice_mut::<f32>()?;
    let work = target.len() * taps;
    tract_linalg::multithread::par_chunks_mut(target, out_plane, work, |first, planes| {
      let columns = geometry.out_width.next_multiple_of(BLOCK);
      let mut rows = PhasedRows::new(&geometry, columns, 1)?;
      for (index, out) in (first..).zip(planes.chunks_exact_mut(out_plane)) {
        let channel = index % channels;
        rows.fill(0, &source[index * plane..][..plane]);
        let bias = bias[if bias.len() == 1 { 0 } else { channel }];
        convolve(&rows, &kernel[channel * taps..][..taps], bias, out);
      }
      Ok(())
    })?;
    Ok(tvec!(output.into_tvalue()))
  }
}

/// Convolves the plane laid out in `rows` with one channel's `kernel` (kh × kw) into `out`.
fn convolve(rows: &PhasedRows, kernel: &[f32], bias: f32, out: &mut [f32]) {
  let geometry = rows.geometry();
  let mut taps: Vec<Tap> = Vec::with_capacity(kernel.len());
  for (y, out_row) in out.chunks_exact_mut(geometry.out_width).enumerate() {
    taps.clear();
    for (ky, weights) in kernel.chunks_exact(geometry.kernel_width).enumerate() {
      if let Some(row) = geometry.row(y, ky) {
        taps.extend(weights.iter().enumerate().map(|(kx, &weight)| (rows.tap(0, row, kx), weight)));
      }
    }
    accumulate_row(&taps, bias, out_row);
  }
}

/// One output row: `bias` plus, for each tap, its weight times its values, block by block. Each
/// tap's values run at least to the end of the output's last whole [`BLOCK`].
fn accumulate_row(taps: &[Tap], bias: f32, out: &mut [f32]) {
  #[cfg(target_arch = "x86_64")]
  if std::arch::is_x86_feature_detected!("avx512f") {
    // SAFETY: the CPU has the features the function is compiled for.
    return unsafe { accumulate_row_avx512(taps, bias, out) };
  }
  #[cfg(target_arch = "x86_64")]
  if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
    // SAFETY: the CPU has the features the function is compiled for.
    return unsafe { accumulate_row_avx2_fma(taps, bias, out) };
  }
  accumulate_row_portable(taps, bias, out)
}

/// [`accumulate_row`] in plain Rust (which the compiler leaves scalar).
fn accumulate_row_portable(taps: &[Tap], bias: f32, out: &mut [f32]) {
  for (start, out) in (0..).step_by(BLOCK).zip(out.chunks_mut(BLOCK)) {
    let mut sums = [bias; BLOCK];
    for &(values, weight) in taps {
      for (sum, &value) in sums.iter_mut().zip(&values[start..start + BLOCK]) {
        *sum += value * weight;
      }
    }
    out.copy_from_slice(&sums[..out.len()]);
  }
}

/// [`accumulate_row`] with the block in four 8-lane registers and fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn accumulate_row_avx2_fma(taps: &[Tap], bias: f32, out: &mut [f32]) {
  use std::arch::x86_64::*;
  const LANES: usize = 8;
  for (start, out) in (0..).step_by(BLOCK).zip(out.chunks_mut(BLOCK)) {
    let mut sums = [_mm256_set1_ps(bias); BLOCK / LANES];
    for &(values, weight) in taps {
      let values = &values[start..start + BLOCK];
      let weight = _mm256_set1_ps(weight);
      for (lane, sum) in sums.iter_mut().enumerate() {
        // SAFETY: `values` holds BLOCK values, so LANES from lane · LANES on.
        let values = unsafe { _mm256_loadu_ps(values.as_ptr().add(lane * LANES)) };
        *sum = _mm256_fmadd_ps(values, weight, *sum);
      }
    }
    let mut block = [0f32; BLOCK];
    for (lane, sum) in sums.iter().enumerate() {
      // SAFETY: `block` holds BLOCK values, so LANES from lane · LANES on.
      unsafe { _mm256_storeu_ps(block.as_mut_ptr().add(lane * LANES), *sum) };
    }
    out.copy_from_slice(&block[..out.len()]);
  }
}

/// [`accumulate_row`] on 16-lane registers: up to 128 columns at a time, one register per 16 (the
/// last one masked), so that up to 8 independent sums hide the multiply-add latency.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn accumulate_row_avx512(taps: &[Tap], bias: f32, out: &mut [f32]) {
  const WIDE: usize = 8 * 16;
  for (start, out) in (0..).step_by(WIDE).zip(out.chunks_mut(WIDE)) {
    // SAFETY (all arms): the CPU has AVX-512.
    unsafe {
      match out.len().div_ceil(16) {
        1 => registers_avx512::<1>(taps, bias, start, out),
        2 => registers_avx512::<2>(taps, bias, start, out),
        3 => registers_avx512::<3>(taps, bias, start, out),
        4 => registers_avx512::<4>(taps, bias, start, out),
        5 => registers_avx512::<5>(taps, bias, start, out),
        6 => registers_avx512::<6>(taps, bias, start, out),
        7 => registers_avx512::<7>(taps, bias, start, out),
        _ => registers_avx512::<8>(taps, bias, start, out),
      }
    }
  }
}

/// The `out.len()` (from 16 · (N − 1) + 1 to 16 · N) columns of a row from column `start` on, in
/// `N` registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn registers_avx512<const N: usize>(taps: &[Tap], bias: f32, start: usize, out: &mut [f32]) {
  use std::arch::x86_64::*;
  const LANES: usize = 16;
  let last = out.len() - (N - 1) * LANES;
  let mask: __mmask16 = if last == LANES { !0 } else { (1 << last) - 1 };
  let mut sums = [_mm512_set1_ps(bias); N];
  for &(values, weight) in taps {
    let values = &values[start..start + out.len()];
    let weight = _mm512_set1_ps(weight);
    for (lane, sum) in sums.iter_mut().enumerate() {
      // SAFETY: `values` holds `out.len()` values; the last register reads only those it masks.
      let values = unsafe {
        let from = values.as_ptr().add(lane * LANES);
        if lane + 1 < N {
          _mm512_loadu_ps(from)
        } else {
          _mm512_maskz_loadu_ps(mask, from)
        }
      };
      *sum = _mm512_fmadd_ps(values, weight, *sum);
    }
  }
  for (lane, sum) in sums.iter().enumerate() {
    // SAFETY: as for the loads, in `out`.
    unsafe {
      let to = out.as_mut_ptr().add(lane * LANES);
      if lane + 1 < N {
        _mm512_storeu_ps(to, *sum)
      } else {
        _mm512_mask_storeu_ps(to, mask, *sum)
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::ops::conv_case::{value, Case};

  #[test]
  fn convolutions_equal_the_definition() {
    let cases = [
      // PP-OCR's 5 × 5 on a short, wide plane; a 2-register row.
      Case::new([2, 3, 3, 24], [5, 5]).depthwise().padding([2, 2], [2, 2]),
      // 3 × 3 stride 2 (two column phases), odd sizes, a row wider than 128 columns.
      Case::new([1, 4, 9, 263], [3, 3]).depthwise().strides([2, 2]).padding([1, 1], [1, 1]),
      // Dilation, asymmetric padding, one bias for all channels.
      Case::new([1, 2, 11, 37], [3, 2])
        .depthwise()
        .strides([1, 3])
        .dilations([2, 3])
        .padding([0, 2], [3, 1])
        .shared_bias(),
      // No padding, a kernel as large as the input, a 1-column output.
      Case::new([3, 2, 4, 5], [4, 5]).depthwise(),
      // Rows strides skip: only the rows the kernel reads are laid out.
      Case::new([1, 2, 17, 9], [2, 3]).depthwise().strides([5, 2]).padding([1, 1], [1, 1]),
      // Padding wider than the kernel reaches: outputs that see only padding.
      Case::new([1, 2, 2, 3], [1, 1]).depthwise().padding([2, 3], [1, 4]),
    ];
    cases.iter().for_each(Case::check_rewritten_as::<PlaneDepthwiseConv>);
  }

  #[test]
  fn every_row_kernel_sums_the_taps() {
    type RowKernel = fn(&[Tap], f32, &mut [f32]);
    let mut kernels: Vec<(&str, RowKernel)> = vec![("portable", accumulate_row_portable)];
    #[cfg(target_arch = "x86_64")]
    {
      if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        kernels.push(("avx2", |t, b, o| unsafe { accumulate_row_avx2_fma(t, b, o) }));
      }
      if std::arch::is_x86_feature_detected!("avx512f") {
        kernels.push(("avx512", |t, b, o| unsafe { accumulate_row_avx512(t, b, o) }));
      }
    }
    let values: Vec<f32> = (0..400).map(value).collect();
    let taps: Vec<Tap> = (0..7).map(|t| (&values[t * 3..], value(t + 500))).collect();
    for width in [1, 15, 16, 17, 32, 80, 128, 129, 200, 257] {
      let want: Vec<f64> = (0..width)
        .map(|x| taps.iter().map(|(v, w)| v[x] as f64 * *w as f64).sum::<f64>() + 0.25)
        .collect();
      for (name, kernel) in &kernels {
        let mut out = vec![f32::NAN; width + 1];
        kernel(&taps, 0.25, &mut out[..width]);
        for (got, want) in out.iter().zip(&want) {
          assert!((*got as f64 - want).abs() < 1e-5, "{name}, {width} columns: {got} vs {want}");
        }
        assert!(out[width].is_nan(), "{name} wrote past {width} columns");
      }
    }
  }

  #[test]
  fn grouped_convolutions_with_several_channels_per_group_stay_with_tract() {
    let grouped = Case { group: 2, ..Case::new([1, 4, 5, 5], [3, 3]).padding([1, 1], [1, 1]) };
    let model = grouped.optimized();
    assert!(!model.nodes().iter().any(|n| n.op_is::<PlaneDepthwiseConv>()));
    grouped.check_computes_the_definition(model);
  }
}
