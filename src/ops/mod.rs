//! tract's ONNX parser with tract-node's operators registered over tract's own: the ai.onnx.ml
//! operators scikit-learn exports (`crate::ml_ops`) and ai.onnx operators tract handles in a way real
//! models trip on.

pub mod conditional;

/// tract's ONNX parser with tract-node's operators registered over tract's own.
pub fn onnx() -> tract_onnx::Onnx {
  let mut onnx = tract_onnx::onnx();
  crate::ml_ops::register(&mut onnx.op_register);
  conditional::register(&mut onnx.op_register);
  onnx
}
