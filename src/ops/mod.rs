//! tract's ONNX parser with tract-node's operators registered over tract's own: the ai.onnx.ml
//! operators scikit-learn exports (`crate::ml_ops`) and ai.onnx operators tract handles in a way real
//! models trip on.

pub mod conditional;
pub mod per_channel;

use tract_hir::internal::*;

/// tract's ONNX parser with tract-node's operators registered over tract's own.
pub fn onnx() -> tract_onnx::Onnx {
  let mut onnx = tract_onnx::onnx();
  crate::ml_ops::register(&mut onnx.op_register);
  conditional::register(&mut onnx.op_register);
  onnx
}

/// tract-node's rewrites of a decluttered model, to run before tract's `optimize`: `If`s whose
/// condition is known only at run time get planned branches, per-channel operands are broadcast over
/// the batch.
pub fn rewrite(model: &mut TypedModel) -> TractResult<()> {
  conditional::plan_runtime_conditionals(model);
  per_channel::broadcast_per_channel_operands(model)
}
