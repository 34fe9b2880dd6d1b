//! Which convolutions the direct rewrites take.

use tract_core::ops::cnn::{Conv, KernelFormat};
use tract_hir::internal::*;

/// Whether `conv` (at `node`) is a 2-D f32 convolution of channel-first images with a constant OIHW
/// kernel of a non-empty window, a constant bias (one value per output channel, or one for all), and
/// positive strides and dilations: the convolutions the depthwise and dense rewrites take, each for
/// its own groups.
pub fn is_plain_2d(model: &TypedModel, node: &TypedNode, conv: &Conv) -> TractResult<bool> {
  let spec = &conv.pool_spec;
  let &[input, kernel, bias] = &node.inputs[..] else { return Ok(false) };
  let &[kernel_height, kernel_width] = &spec.kernel_shape[..] else { return Ok(false) };
  let Some(group_channels) = spec.input_channels.checked_div(conv.group) else { return Ok(false) };
  let (input, kernel, bias) =
    (model.outlet_fact(input)?, model.outlet_fact(kernel)?, model.outlet_fact(bias)?);
  let f32_constant =
    |fact: &TypedFact| fact.datum_type == f32::datum_type() && fact.konst.is_some();
  let kernel_shape = [spec.output_channels, group_channels, kernel_height, kernel_width];
  Ok(
    conv.q_params.is_none()
      && input.datum_type == f32::datum_type()
      && !spec.data_format.c_is_last()
      && kernel_height > 0
      && kernel_width > 0
      && spec.strides().iter().chain(spec.dilations().iter()).all(|&s| s > 0)
      && conv.kernel_fmt == KernelFormat::OIHW
      && f32_constant(kernel)
      && kernel.shape.as_concrete() == Some(&kernel_shape[..])
      && f32_constant(bias)
      && [1, spec.output_channels].contains(&bias.shape.volume().to_usize().unwrap_or(0)),
  )
}
