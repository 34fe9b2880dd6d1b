//! Strided pointwise (1 × 1) convolutions of f32 NCHW images, such as ResNet's shortcut
//! projections, computed directly on tract-node's tiles (`crate::ops::kernels::pointwise_conv`),
//! and the per-channel product and sum of a BatchNormalization after them folded into their
//! weights.
//!
//! tract lowers a strided 1 × 1 convolution to a subsampling (two `Downsample`s, one per axis), a
//! packing of the subsampled image and a matrix product; the BatchNormalization after it stays a
//! product and a sum per channel. Here each image's values that the outputs read are gathered once
//! per run into one row per input channel (padded with zeros to whole tiles), and tiles of output
//! channels × registers of outputs run along the rows, split over the intra-op threads by channels
//! so that each thread reads only its own channels' weights.
//!
//! On the tiers with tile kernels (AVX-512, AVX2); elsewhere tract's lowering stays.

use tract_core::ops::cnn::{Conv, PoolSpec};
use tract_core::ops::math::{Add, Mul};
use tract_hir::internal::*;

use super::consumer::binary_with_constant;
use super::conv::is_plain_2d;
use crate::cpu::Tier;
use crate::ops::kernels::conv_rows::{uninitialized_output, Geometry};
use crate::ops::kernels::pointwise_conv::{kernel, tile_shapes, Tile, TileShape, CHANNEL_ALIGN};
use crate::ops::kernels::split::{for_each_task, SharedOutput};

/// Replaces every f32 NCHW 2-D `Conv` of one group with a constant 1 × 1 OIHW kernel, a stride
/// over 1 and a constant bias by [`PointwiseConv`], its weights packed, on the tiers with tile
/// kernels. Call before declutter: declutter lowers these convolutions, and folds the
/// BatchNormalizations after them into [`PointwiseConv`]s.
pub fn replace_strided_pointwise_convolutions(
  model: &mut TypedModel,
  tier: Tier,
) -> TractResult<()> {
  if tile_shapes(tier).is_none() {
    return Ok(());
  }
  for id in 0..model.nodes().len() {
    let node = model.node(id);
    let Some(conv) = node.op_as::<Conv>() else { continue };
    if !is_strided_pointwise(model, node, conv)? {
      continue;
    }
    let constant = |slot: usize| model.outlet_fact(node.inputs[slot]).map(|f| f.konst.clone());
    let (Some(kernel), Some(bias)) = (constant(1)?, constant(2)?) else { continue };
    let (weights, bias) = pack(&kernel, &bias, &conv.pool_spec)?;
    let op = PointwiseConv { tier, spec: conv.pool_spec.clone() };
    let patch = op.patch(model, node, node, weights, bias)?;
    patch.apply(model)?;
  }
  Ok(())
}

/// Whether `conv` (at `node`) is a convolution [`PointwiseConv`] computes.
fn is_strided_pointwise(model: &TypedModel, node: &TypedNode, conv: &Conv) -> TractResult<bool> {
  let spec = &conv.pool_spec;
  Ok(
    conv.group == 1
      && spec.kernel_shape.iter().all(|&k| k == 1)
      && spec.strides().iter().any(|&s| s > 1)
      && is_plain_2d(model, node, conv)?
      && model.outlet_fact(node.inputs[0])?.rank() == 4,
  )
}

/// The OIHW 1 × 1 `kernel` of `spec` as `[blocks, input channels, CHANNEL_ALIGN]`: for each block
/// of [`CHANNEL_ALIGN`] output channels, input channel after input channel, its weight for each
/// output channel of the block; and the bias (one value per channel, or one for all) as
/// `[blocks · CHANNEL_ALIGN]`. Output channels past the last are zero.
fn pack(kernel: &Tensor, bias: &Tensor, spec: &PoolSpec) -> TractResult<(Tensor, Tensor)> {
  let (kernel, bias) = (kernel.try_as_plain_ram()?, bias.try_as_plain_ram()?);
  let (kernel, bias) = (kernel.as_slice::<f32>()?, bias.as_slice::<f32>()?);
  let (channels, out_channels) = (spec.input_channels, spec.output_channels);
  let padded = out_channels.next_multiple_of(CHANNEL_ALIGN);
  let mut weights = vec![0f32; channels * padded];
  for (out_channel, weights_of_channel) in kernel.chunks_exact(channels).enumerate() {
    for (channel, &weight) in weights_of_channel.iter().enumerate() {
      weights[weight_index(out_channel, channel, channels)] = weight;
    }
  }
  let mut padded_bias = vec![0f32; padded];
  for (channel, value) in padded_bias.iter_mut().take(out_channels).enumerate() {
    *value = bias[if bias.len() == 1 { 0 } else { channel }];
  }
  Ok((
    Tensor::from_shape(&[padded / CHANNEL_ALIGN, channels, CHANNEL_ALIGN], &weights)?,
    Tensor::from_shape(&[padded], &padded_bias)?,
  ))
}

/// Where [`pack`] puts the weight of input channel `channel` (of `channels`) for `out_channel`.
fn weight_index(out_channel: usize, channel: usize, channels: usize) -> usize {
  let (block, within) = (out_channel / CHANNEL_ALIGN, out_channel % CHANNEL_ALIGN);
  (block * channels + channel) * CHANNEL_ALIGN + within
}

/// A strided 1 × 1 convolution computed tile by tile (see the module doc). Its inputs are the
/// image, the weights and the bias as [`pack`] lays them out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PointwiseConv {
  tier: Tier,
  spec: PoolSpec,
}

impl PointwiseConv {
  /// A patch that replaces `replaced` (`node` itself, or its consumer) by this convolution of
  /// `node`'s image with `weights` and `bias`.
  fn patch(
    &self,
    model: &TypedModel,
    node: &TypedNode,
    replaced: &TypedNode,
    weights: Tensor,
    bias: Tensor,
  ) -> TractResult<TypedModelPatch> {
    let mut patch = TypedModelPatch::new("pointwise-conv");
    let image = patch.tap_model(model, node.inputs[0])?;
    let weights = patch.add_const(format!("{}.packed_weights", replaced.name), weights)?;
    let bias = patch.add_const(format!("{}.packed_bias", replaced.name), bias)?;
    let output = patch.wire_node(&replaced.name, self.clone(), &[image, weights, bias])?;
    patch.shunt_outside(model, replaced.id.into(), output[0])?;
    Ok(patch)
  }

  /// A patch that folds this convolution's only consumer into its weights and bias, if it is a
  /// product or a sum by a constant per output channel (or one for all), as tract-onnx imports a
  /// BatchNormalization.
  fn fold_channel_arithmetic(
    &self,
    model: &TypedModel,
    node: &TypedNode,
  ) -> TractResult<Option<TypedModelPatch>> {
    let Some((consumer, bin, operand)) = binary_with_constant(model, node)? else {
      return Ok(None);
    };
    let (product, sum) = (bin.0.is::<Mul>(), bin.0.is::<Add>());
    let channels = self.spec.output_channels;
    let per_channel = operand.shape() == [1, channels, 1, 1] || operand.len() == 1;
    if !(product || sum)
      || bin.1.is_some()
      || operand.datum_type() != f32::datum_type()
      || operand.rank() != 4
      || !per_channel
    {
      return Ok(None);
    }
    let constant = |slot: usize| -> TractResult<Tensor> {
      let fact = model.outlet_fact(node.inputs[slot])?;
      Ok(
        fact.konst.as_ref().context("packed weights and bias are constants")?.clone().into_tensor(),
      )
    };
    let (mut weights, mut bias) = (constant(1)?, constant(2)?);
    let operand = operand.try_as_plain_ram()?;
    let operand = operand.as_slice::<f32>()?;
    let value = |channel: usize| operand[if operand.len() == 1 { 0 } else { channel }];
    {
      let (mut weights, mut bias) = (weights.try_as_plain_ram_mut()?, bias.try_as_plain_ram_mut()?);
      let (weights, bias) = (weights.as_slice_mut::<f32>()?, bias.as_slice_mut::<f32>()?);
      for (channel, bias) in bias.iter_mut().take(channels).enumerate() {
        *bias = if product { *bias * value(channel) } else { *bias + value(channel) };
      }
      if product {
        let depth = self.spec.input_channels;
        for (out_channel, channel) in (0..channels).flat_map(|o| (0..depth).map(move |c| (o, c))) {
          weights[weight_index(out_channel, channel, depth)] *= value(out_channel);
        }
      }
    }
    Ok(Some(self.patch(model, node, consumer, weights, bias)?))
  }
}

impl Op for PointwiseConv {
  fn name(&self) -> StaticName {
    "PointwiseConv".into()
  }

  fn info(&self) -> TractResult<Vec<String>> {
    Ok(self.spec.info())
  }

  op_as_typed_op!();
}

impl TypedOp for PointwiseConv {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    self.spec.output_facts(&inputs[..1])
  }

  fn declutter(
    &self,
    model: &TypedModel,
    node: &TypedNode,
  ) -> TractResult<Option<TypedModelPatch>> {
    self.fold_channel_arithmetic(model, node)
  }

  fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
    let outputs = self.spec.output_shape(&inputs[0].shape)?.shape.iter().product::<TDim>();
    Ok(tvec!((Cost::FMA(f32::datum_type()), outputs * self.spec.input_channels)))
  }

  as_op!();
}

impl EvalOp for PointwiseConv {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let (input, weights, bias) = args_3!(inputs);
    // SAFETY: every value of the output is written below.
    let (channels, geometry, mut output) = unsafe { uninitialized_output(&self.spec, &input)? };
    let out_channels = self.spec.output_channels;
    let pixels = geometry.out_height * geometry.out_width;
    if output.len() == 0 {
      return Ok(tvec!(output.into_tvalue()));
    }
    let (source, weights, bias) =
      (input.try_as_plain_ram()?, weights.try_as_plain_ram()?, bias.try_as_plain_ram()?);
    let (source, weights, bias) =
      (source.as_slice::<f32>()?, weights.as_slice::<f32>()?, bias.as_slice::<f32>()?);
    let padded = bias.len();
    ensure!(
      padded >= out_channels && padded % CHANNEL_ALIGN == 0 && weights.len() == channels * padded,
      "packed weights of {} values and bias of {padded} for {out_channels} × {channels}",
      weights.len(),
    );
    let tiling = Tiling::of(self.tier, out_channels, pixels);
    let row_len = tiling.row_len(pixels);
    let mut rows = Vec::new();
    let len = channels.checked_mul(row_len).filter(|&len| rows.try_reserve_exact(len).is_ok());
    let Some(len) = len else {
      bail!("a pointwise convolution's {channels} rows of {row_len} values cannot be allocated")
    };
    rows.resize(len, 0f32);
    let tasks = tiling.tasks(out_channels, pixels);
    let work = [pixels, channels].iter().fold(out_channels, |n, &d| n.saturating_mul(d));
    let tile_fn = kernel(self.tier, tiling.0);
    let mut target = output.try_as_plain_ram_mut()?;
    let target = target.as_slice_mut::<f32>()?;
    let plane = geometry.height * geometry.width;
    for (image, out) in target.chunks_exact_mut(out_channels * pixels).enumerate() {
      if plane > 0 {
        let image = &source[image * channels * plane..][..channels * plane];
        gather(image, &geometry, &mut rows, row_len);
      }
      let out = SharedOutput::new(out);
      for_each_task(
        &tasks,
        |_| 1,
        work,
        |&(first_channel, first_pixel)| {
          let tile = Tile {
            // SAFETY (all offsets): the rows hold every tile's registers of outputs
            // (`Tiling::row_len`), the weights and bias every tile's channels (padded to
            // `CHANNEL_ALIGN`), the output every channel's plane.
            values: unsafe { rows.as_ptr().add(first_pixel) },
            row_len,
            depth: channels,
            weights: unsafe { weights.as_ptr().add(weight_index(first_channel, 0, channels)) },
            bias: unsafe { bias.as_ptr().add(first_channel) },
            out: unsafe { out.at(first_channel * pixels + first_pixel) },
            plane: pixels,
            channels: out_channels - first_channel,
            outputs: pixels - first_pixel,
          };
          // SAFETY: the CPU runs `self.tier` (the rewrite picked it from the CPU's tiers), and
          // `tile`'s pointers are valid as above.
          unsafe { tile_fn(&tile) };
        },
      );
    }
    Ok(tvec!(output.into_tvalue()))
  }
}

/// Copies the input values the outputs read (one each: the kernel is 1 × 1) from `image`'s planes
/// into `rows`, one per input channel every `row_len` values, in the outputs' order; outputs whose
/// value lies in the padding read zero. The rest of each row is left as it is (zero).
fn gather(image: &[f32], geometry: &Geometry, rows: &mut [f32], row_len: usize) {
  let Geometry { height, width, out_height, out_width, stride_x, left, .. } = *geometry;
  // The outputs of a row whose column lies inside the input.
  let first = left.div_ceil(stride_x).min(out_width);
  let end = ((width - 1 + left) / stride_x + 1).clamp(first, out_width);
  for (plane, row) in image.chunks_exact(height * width).zip(rows.chunks_exact_mut(row_len)) {
    for (y, outputs) in row.chunks_exact_mut(out_width).take(out_height).enumerate() {
      let Some(source) = geometry.row(y, 0) else {
        outputs.fill(0.0);
        continue;
      };
      let source = &plane[source * width..][..width][first * stride_x - left..];
      outputs[..first].fill(0.0);
      outputs[end..].fill(0.0);
      let inside = outputs[first..end].iter_mut().zip(source.iter().step_by(stride_x));
      inside.for_each(|(output, &value)| *output = value);
    }
  }
}

/// A layer's tile shape.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tiling(TileShape);

impl Tiling {
  /// The tile shape of `tier` that pads `out_channels` × `pixels` outputs least (the first on
  /// ties).
  fn of(tier: Tier, out_channels: usize, pixels: usize) -> Tiling {
    let shapes = tile_shapes(tier).expect("the op is only made on tiers with tiles");
    let padded = |shape: &TileShape| {
      let registers = pixels.div_ceil(shape.lanes);
      out_channels.next_multiple_of(shape.channels) * registers.next_multiple_of(shape.registers)
    };
    Tiling(shapes.into_iter().min_by_key(padded).expect("tile shapes are listed"))
  }

  /// Values per gathered row for `pixels` outputs: whole tiles.
  fn row_len(&self, pixels: usize) -> usize {
    let Tiling(shape) = self;
    pixels.div_ceil(shape.lanes).next_multiple_of(shape.registers) * shape.lanes
  }

  /// Every tile's first output channel and first output, channel after channel, so that a
  /// thread's run of tiles shares weights.
  fn tasks(&self, out_channels: usize, pixels: usize) -> Vec<(usize, usize)> {
    let Tiling(shape) = self;
    let outputs = (0..pixels).step_by(shape.registers * shape.lanes);
    let channels = (0..out_channels).step_by(shape.channels);
    channels.flat_map(|channel| outputs.clone().map(move |output| (channel, output))).collect()
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::ops::rewrite::conv_case::{assert_close, Case};
  use tract_ndarray::Array4;

  crate::cpu::test_each_tier! {
    fn strided_pointwise_convolutions_equal_the_definition(tier: Tier) {
      let cases = [
        // ResNet's shortcut projections: 28 × 28 → 14 × 14 (13 registers), 4 × 4 (one).
        Case::new([1, 64, 28, 28], [1, 1]).out_channels(128).strides([2, 2]),
        Case::new([1, 40, 7, 7], [1, 1]).out_channels(70).strides([2, 2]),
        // Two images; channels and outputs that end mid-tile; one bias for all channels.
        Case::new([2, 5, 9, 11], [1, 1]).out_channels(13).strides([2, 3]).shared_bias(),
        // Padding: outputs that read zero.
        Case::new([1, 3, 5, 5], [1, 1]).out_channels(4).strides([2, 2]).padding([1, 2], [1, 0]),
        // Strides wider than the input: one output.
        Case::new([1, 17, 3, 2], [1, 1]).out_channels(30).strides([4, 5]),
      ];
      let rewritten = tile_shapes(tier).is_some();
      cases.iter().for_each(|case| case.check_on::<PointwiseConv>(tier, rewritten));
  }
  }

  #[test]
  fn every_tiling_pads_least_and_has_a_kernel() {
    let shape = |tier, out_channels, pixels| {
      let Tiling(shape) = Tiling::of(tier, out_channels, pixels);
      (shape.channels, shape.registers)
    };
    assert_eq!(shape(Tier::Avx512, 128, 196), (12, 2));
    assert_eq!(shape(Tier::Avx512, 512, 16), (24, 1));
    assert_eq!(shape(Tier::Avx2, 128, 196), (12, 1));
    assert_eq!(shape(Tier::Avx2, 64, 24), (4, 3));
    for tier in [Tier::Avx512, Tier::Avx2] {
      for (out_channels, pixels) in [(1, 1), (64, 49), (512, 16), (100, 1000)] {
        let Tiling(shape) = Tiling::of(tier, out_channels, pixels);
        assert_eq!(CHANNEL_ALIGN % shape.channels, 0);
        kernel(tier, shape);
      }
    }
  }

  crate::cpu::test_each_tier! {
    fn a_batch_normalization_after_it_is_folded_in(tier: Tier) {
      let case = Case::new([1, 6, 8, 8], [1, 1]).out_channels(20).strides([2, 2]);
      let (kernel, bias) = (case.kernel_values(), case.bias_values());
      let mut model = case.model(&kernel, &bias);
      let conv = model.output_outlets().unwrap()[0];
      let slope: Vec<f32> = (0..20).map(|c| 0.5 + c as f32 / 10.0).collect();
      let inter: Vec<f32> = (0..20).map(|c| c as f32 / 4.0 - 2.0).collect();
      let mut wire = conv;
      for (name, values, op) in [
        ("slope", &slope, tract_core::ops::math::mul()),
        ("inter", &inter, tract_core::ops::math::add()),
      ] {
        let constant = Tensor::from_shape(&[1, 20, 1, 1], values).unwrap();
        let constant = model.add_const(name, constant).unwrap();
        wire = model.wire_node(format!("bn.{name}"), op, &[constant, wire]).unwrap()[0];
      }
      model.select_output_outlets(&[wire]).unwrap();
      let model = crate::ops::optimize(model, true, 1, tier).unwrap();
      if tile_shapes(tier).is_some() {
        let ops: Vec<_> = model.nodes().iter().map(|n| n.op().name()).collect();
        let folded = ["Source", "Const", "PointwiseConv"];
        assert!(ops.iter().all(|op| folded.contains(&&**op)), "{ops:?}");
      }
      let x = case.input();
      let convolved = case.reference(&x, &kernel, &bias);
      let want = Array4::from_shape_fn(convolved.dim(), |(n, c, y, x)| {
        convolved[(n, c, y, x)] * slope[c] as f64 + inter[c] as f64
      });
      let y = model.into_runnable().unwrap().run(tvec!(x.into_tvalue())).unwrap();
      assert_close(&y[0], &want, "convolution, product and sum");
  }
  }
}
