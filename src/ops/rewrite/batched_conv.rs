//! Convolutions at batch > 1. tract gathers a convolution's input windows in place ("lazy im2col")
//! only for one image at a time; with a batch it copies every window into a scratch matrix first,
//! which for 3×3 and larger kernels on big feature maps costs more than the product itself (half of
//! PP-OCR's text detector at batch 4). Run per image instead: the batch is sliced, each image
//! convolved with the same operator, the results concatenated. Applies where the batch size is known
//! (pinned and specialised plans), up to `MAX_IMAGES` (beyond, the graph would grow too large).

use tract_core::ops::array::{Slice, TypedConcat};
use tract_core::ops::cnn::Conv;
use tract_hir::internal::*;

/// The largest batch split per image.
const MAX_IMAGES: usize = 16;

/// Whether a convolution of `input_shape` is worth running per image: not a depthwise one
/// (`crate::ops::depthwise` runs those), nor a pointwise one, which declutter lowers to a product
/// (`crate::ops::batched_product` runs those over the batch).
fn per_image(conv: &Conv, input_shape: &[usize]) -> bool {
  let spec = &conv.pool_spec;
  let batch = input_shape.first().copied().unwrap_or(1);
  let depthwise = conv.group > 1 && conv.group == spec.input_channels;
  let pointwise = conv.group == 1
    && spec.kernel_shape.iter().all(|&k| k == 1)
    && spec.dilations().iter().all(|&d| d == 1)
    && spec.data_format.shape(input_shape).is_ok_and(|shape| {
      spec.computed_padding(shape.hw_dims()).iter().all(|p| p.pad_before == 0 && p.pad_after == 0)
    });
  conv.q_params.is_none()
    && spec.data_format.has_n()
    && (2..=MAX_IMAGES).contains(&batch)
    && !depthwise
    && !pointwise
}

/// Rewrites every batched convolution worth it (see the module doc) as per-image ones. Call before
/// declutter, which lowers 1×1 convolutions to products.
pub fn split_batched_convolutions(model: &mut TypedModel) -> TractResult<()> {
  let convolutions: Vec<usize> =
    model.nodes().iter().filter(|n| n.op_is::<Conv>()).map(|n| n.id).collect();
  for id in convolutions {
    let node = model.node(id).clone();
    let conv = node.op_as::<Conv>().expect("a Conv node");
    let Some(shape) = model.outlet_fact(node.inputs[0])?.shape.as_concrete().map(|s| s.to_vec())
    else {
      continue;
    };
    if !per_image(conv, &shape) {
      continue;
    }
    let mut patch = TypedModelPatch::default();
    let inputs = patch.taps(model, &node.inputs)?;
    let mut images = TVec::new();
    for image in 0..shape[0] {
      let slice = Slice { axis: 0, start: image.to_dim(), end: (image + 1).to_dim() };
      let mut image_inputs = inputs.clone();
      image_inputs[0] =
        patch.wire_node(format!("{}.image{image}", node.name), slice, &[inputs[0]])?[0];
      images.push(
        patch.wire_node(format!("{}.conv{image}", node.name), node.op.clone(), &image_inputs)?[0],
      );
    }
    let joined =
      patch.wire_node(format!("{}.batch", node.name), TypedConcat { axis: 0 }, &images)?;
    patch.shunt_outside(model, OutletId::new(id, 0), joined[0])?;
    patch.apply(model)?;
  }
  model.compact()
}
