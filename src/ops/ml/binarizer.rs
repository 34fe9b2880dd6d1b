//! `Binarizer` (ai.onnx.ml), which tract lacks.

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::map::{floats, map};

/// Registers the operator.
pub fn register(registry: &mut OnnxOpRegister) {
  registry.insert("Binarizer", binarizer);
}

/// `Binarizer`: 1 where `x > threshold`, else 0, in the input's type.
fn binarizer(
  _: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let threshold: f32 = node.get_attr_opt("threshold")?.unwrap_or(0.0);
  map("Binarizer", None, None, move |input| {
    let (shape, values) = floats(input)?;
    let binary: Vec<f32> = values.iter().map(|&v| if v > threshold { 1.0 } else { 0.0 }).collect();
    Ok(Tensor::from_shape(&shape, &binary)?.cast_to_dt(input.datum_type())?.into_owned())
  })
}
