//! Depthwise 2-D convolutions of f32 planes (NCHW: one kernel per channel, as MobileNet-style models
//! run them) computed row by row. tract's `DepthWise` walks every output point and gathers its taps;
//! here each plane is first copied into zero-padded rows, split by column phase when the stride is
//! larger than one, so that every tap of a block of outputs reads consecutive values: the block stays
//! in registers while all taps are accumulated (`crate::ops::kernels::depthwise`, on every tier).
//!
//! Replaces the `Conv` before tract's codegen, so it also covers shapes tract only knows at run time
//! (text recognisers take images of any width): the padding and output size are computed per run
//! with tract's own rules.

use tract_core::ops::cnn::Conv;
use tract_hir::internal::*;

use super::conv::is_plain_2d;
use crate::cpu::Tier;
use crate::ops::kernels::conv_rows::{Geometry, PhasedRows};
use crate::ops::kernels::depthwise::{accumulate_row, Tap, BLOCK};

/// Replaces every f32 NCHW 2-D depthwise `Conv` (one input and one output channel per group, constant
/// OIHW kernel and bias) by [`PlaneDepthwiseConv`], on `tier`'s kernels. Call after declutter,
/// before tract's codegen.
pub fn replace_depthwise_convolutions(model: &mut TypedModel, tier: Tier) -> TractResult<()> {
  for id in 0..model.nodes().len() {
    let node = model.node(id);
    let Some(conv) = node.op_as::<Conv>() else { continue };
    if is_plain_depthwise(model, node, conv)? {
      model.node_mut(id).op = Box::new(PlaneDepthwiseConv { tier, conv: conv.clone() });
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
  tier: Tier,
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
        convolve(self.tier, &rows, &kernel[channel * taps..][..taps], bias, out);
      }
      Ok(())
    })?;
    Ok(tvec!(output.into_tvalue()))
  }
}

/// Convolves the plane laid out in `rows` with one channel's `kernel` (kh × kw) into `out`, on
/// `tier`'s kernel.
fn convolve(tier: Tier, rows: &PhasedRows, kernel: &[f32], bias: f32, out: &mut [f32]) {
  let geometry = rows.geometry();
  let mut taps: Vec<Tap> = Vec::with_capacity(kernel.len());
  for (y, out_row) in out.chunks_exact_mut(geometry.out_width).enumerate() {
    taps.clear();
    for (ky, weights) in kernel.chunks_exact(geometry.kernel_width).enumerate() {
      if let Some(row) = geometry.row(y, ky) {
        taps.extend(weights.iter().enumerate().map(|(kx, &weight)| (rows.tap(0, row, kx), weight)));
      }
    }
    // SAFETY: the CPU runs the op's tier (the rewrite picked it from the CPU's tiers).
    unsafe { accumulate_row(tier, &taps, bias, out_row) };
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::ops::rewrite::conv_case::Case;

  crate::cpu::test_each_tier! {
    fn convolutions_equal_the_definition(tier: Tier) {
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
      cases.iter().for_each(|case| case.check_on::<PlaneDepthwiseConv>(tier, true));
  }
  }

  #[test]
  fn grouped_convolutions_with_several_channels_per_group_stay_with_tract() {
    let grouped = Case { group: 2, ..Case::new([1, 4, 5, 5], [3, 3]).padding([1, 1], [1, 1]) };
    grouped.check_on::<PlaneDepthwiseConv>(crate::cpu::tier(), false);
  }
}
