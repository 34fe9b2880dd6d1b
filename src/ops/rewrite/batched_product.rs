//! Products over a batch of channel-first images (a 1×1 convolution at batch > 1: constant weights
//! `[Co, Ci]` times `[N, Ci, P]`). tract's codegen merges the batch axis into the product's columns,
//! which needs the input channels moved last and the output channels moved back: two transposes
//! around every such product (a quarter of PP-OCR's text-direction classifier at batch 4). Giving the weights a unit batch axis makes the batch a plain loop of the product, over
//! images that are each already a `[Ci, P]` matrix, as onnxruntime runs them.

use tract_core::ops::einsum::EinSum;
use tract_hir::internal::*;

/// The fewest columns (points per image) a product needs to run image by image. Below, one product
/// over the whole batch reads the weights once where a loop would read them per image: a dense
/// layer (`[N, K]` by `[K, J]`), or a 1×1 convolution after global pooling.
const MIN_COLUMNS: usize = 16;

/// Gives the constant operand of every such product a unit batch axis (see the module doc). Call
/// after declutter, before tract's codegen.
pub fn broadcast_weights_over_batches(model: &mut TypedModel) -> TractResult<()> {
  for id in model.eval_order()? {
    let node = model.node(id);
    let Some(op) = node.op_as::<EinSum>() else { continue };
    let Some((weights, batch)) = batch_axis_to_broadcast(model, node, op)? else { continue };
    let axes = op.axes.clone().with_extra_axis_occurency(batch, InOut::In(weights), 0)?;
    let op = EinSum { axes, ..op.clone() };
    let mut patch = TypedModelPatch::default();
    let mut inputs = patch.taps(model, &node.inputs)?;
    inputs[weights] =
      patch.wire_node(format!("{}.batch_axis", node.name), AxisOp::Add(0), &[inputs[weights]])?[0];
    let output = patch.wire_node(&node.name, op, &inputs)?;
    patch.shunt_outside(model, OutletId::new(id, 0), output[0])?;
    patch.apply(model)?;
  }
  model.compact()
}

/// For a float product of constant weights by a batch of channel-first images: the weights' input
/// slot and the batch axis (first in the images and the output, absent from the weights, more than
/// one image, and followed in the images by an axis the product sums over, then by at least
/// [`MIN_COLUMNS`] points).
fn batch_axis_to_broadcast(
  model: &TypedModel,
  node: &TypedNode,
  op: &EinSum,
) -> TractResult<Option<(usize, char)>> {
  if op.q_params.is_some() || node.inputs.len() != 2 || !op.operating_dt.is_float() {
    return Ok(None);
  }
  for weights in 0..2 {
    let images = 1 - weights;
    if model.outlet_fact(node.inputs[weights])?.konst.is_none() {
      continue;
    }
    let image_axes: Vec<&Axis> = op.axes.axes(InOut::In(images)).collect();
    let [batch, summed, ..] = image_axes[..] else { continue };
    let Some(shape) = model.outlet_fact(node.inputs[images])?.shape.as_concrete() else { continue };
    let is_batch =
      batch.inputs[weights].is_empty() && batch.outputs[0].first() == Some(&0) && shape[0] > 1;
    let is_summed = !summed.inputs[weights].is_empty() && summed.outputs[0].is_empty();
    let columns: usize = shape[2..].iter().product();
    if is_batch && is_summed && columns >= MIN_COLUMNS {
      return Ok(Some((weights, batch.repr)));
    }
  }
  Ok(None)
}

#[cfg(test)]
mod tests {
  use tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
  use tract_core::ops::einsum::EinSum;
  use tract_core::ops::nn::DataFormat;
  use tract_hir::internal::*;
  use tract_ndarray::{Array4, ArrayD};

  fn value(i: usize) -> f32 {
    ((i * 7919) % 101) as f32 / 50.0 - 1.0
  }

  /// A 1×1 convolution of `shape` (NCHW) to `outputs` channels with `stride`, then a BatchNorm-style
  /// per-channel scale and shift; its weights, bias, scale and shift.
  fn model(shape: [usize; 4], outputs: usize, stride: usize) -> (TypedModel, [Vec<f32>; 4]) {
    let inputs = shape[1];
    let weights: Vec<f32> = (0..outputs * inputs).map(|i| value(i + 1)).collect();
    let [bias, scale, shift] =
      [2, 3, 4].map(|s| (0..outputs).map(|i| value(i * s + 7)).collect::<Vec<f32>>());
    let spec = PoolSpec::new(
      DataFormat::NCHW,
      tvec!(1, 1),
      PaddingSpec::Valid,
      None,
      Some(tvec!(stride, stride)),
      inputs,
      outputs,
    );
    let conv = Conv { pool_spec: spec, kernel_fmt: KernelFormat::OIHW, group: 1, q_params: None };
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(shape)).unwrap();
    let constant = |model: &mut TypedModel, name: &str, shape: &[usize], values: &[f32]| {
      model.add_const(name, Tensor::from_shape(shape, values).unwrap()).unwrap()
    };
    let w = constant(&mut model, "w", &[outputs, inputs, 1, 1], &weights);
    let b = constant(&mut model, "b", &[outputs], &bias);
    let s = constant(&mut model, "s", &[1, outputs, 1, 1], &scale);
    let t = constant(&mut model, "t", &[1, outputs, 1, 1], &shift);
    let y = model.wire_node("conv", conv, &[x, w, b]).unwrap()[0];
    let y = model.wire_node("scale", tract_core::ops::math::mul(), &[y, s]).unwrap()[0];
    let y = model.wire_node("shift", tract_core::ops::math::add(), &[y, t]).unwrap();
    model.select_output_outlets(&y).unwrap();
    (model, [weights, bias, scale, shift])
  }

  #[test]
  fn pointwise_convolutions_over_a_batch_run_without_transposes() {
    for (shape, outputs, stride) in [([3, 5, 4, 6], 7, 1), ([2, 4, 9, 11], 3, 2)] {
      let (model, [weights, bias, scale, shift]) = model(shape, outputs, stride);
      let model = crate::ops::optimize(model, true, 1, crate::cpu::tier()).unwrap();
      let ops: Vec<String> = model.nodes().iter().map(|n| n.op().name().to_string()).collect();
      assert!(!ops.iter().any(|op| op == "MoveAxis" || op == "Concat"), "{ops:?}");
      let [n, c, h, w] = shape;
      let x = Array4::from_shape_fn(shape, |(n, c, y, x)| value(((n * 13 + c) * 17 + y) * 19 + x));
      let y = model.into_runnable().unwrap().run(tvec!(x.clone().into_tvalue())).unwrap();
      let y: ArrayD<f32> = y[0].to_plain_array_view::<f32>().unwrap().to_owned();
      let (out_h, out_w) = ((h - 1) / stride + 1, (w - 1) / stride + 1);
      assert_eq!(y.shape(), &[n, outputs, out_h, out_w]);
      let y: Array4<f32> = y.into_dimensionality().unwrap();
      for ((b, o, oy, ox), &got) in y.indexed_iter() {
        let product: f64 = (0..c)
          .map(|i| weights[o * c + i] as f64 * x[(b, i, oy * stride, ox * stride)] as f64)
          .sum();
        let want = (product + bias[o] as f64) * scale[o] as f64 + shift[o] as f64;
        assert!(
          (got as f64 - want).abs() < 1e-5,
          "{shape:?} at {:?}: {got} vs {want}",
          (b, o, oy, ox)
        );
      }
    }
  }

  #[test]
  fn products_with_few_columns_stay_whole() {
    // A dense layer at batch 8, and a 1×1 convolution after global pooling: one product each.
    for (images, weights, expression) in [
      (tvec!(8, 64), tvec!(64, 32), "mk,kn->mn"),
      (tvec!(8, 64, 1, 1), tvec!(32, 64), "nihw,oi->nohw"),
    ] {
      let mut model = TypedModel::default();
      let x = model.add_source("x", f32::fact(&images)).unwrap();
      let w = model.add_const("w", Tensor::zero::<f32>(&weights).unwrap()).unwrap();
      let op = EinSum::new(expression.parse().unwrap(), f32::datum_type());
      let y = model.wire_node("y", op.clone(), &[x, w]).unwrap();
      model.select_output_outlets(&y).unwrap();
      let node = model.node(y[0].node);
      assert_eq!(super::batch_axis_to_broadcast(&model, node, &op).unwrap(), None, "{expression}");
    }
  }
}
