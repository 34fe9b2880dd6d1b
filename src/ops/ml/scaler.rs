//! `Scaler` (ai.onnx.ml), which tract lacks.

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::map::{floats, map, per_column};

/// Registers the operator.
pub fn register(registry: &mut OnnxOpRegister) {
  registry.insert("Scaler", scaler);
}

/// `Scaler`: `(x - offset) * scale`, per column, as f32.
fn scaler(
  _: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let offset = node.get_attr_opt_slice::<f32>("offset")?.unwrap_or(&[0.0]).to_vec();
  let scale = node.get_attr_opt_slice::<f32>("scale")?.unwrap_or(&[1.0]).to_vec();
  map("Scaler", Some(f32::datum_type()), None, move |input| {
    let (shape, mut values) = floats(input)?;
    let width = shape.last().copied().unwrap_or(1).max(1);
    let (offset, scale) =
      (per_column(&offset, width, "offset")?, per_column(&scale, width, "scale")?);
    for row in values.chunks_mut(width) {
      for (j, v) in row.iter_mut().enumerate() {
        *v = (*v - offset[j]) * scale[j];
      }
    }
    Tensor::from_shape(&shape, &values)
  })
}
