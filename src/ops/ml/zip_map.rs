//! `ZipMap` (ai.onnx.ml), kept as its `[N, classes]` probability tensor: tract has no maps.

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::map::map;

/// Registers the operator.
pub fn register(registry: &mut OnnxOpRegister) {
  registry.insert("ZipMap", zip_map);
}

/// `ZipMap`: passes the `[N, classes]` probabilities through, columns in class-label order.
fn zip_map(
  _: &ParsingContext,
  _node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  map("ZipMap", Some(f32::datum_type()), None, |input| Ok(input.cast_to::<f32>()?.into_owned()))
}
