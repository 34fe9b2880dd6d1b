//! Operators of ai.onnx.ml that tract lacks or runs too slowly, registered into the ONNX parser.

pub mod ensemble;
mod preprocess;
mod tree_op;

/// tract's ONNX parser with tract-node's operators registered over tract's own.
pub fn onnx() -> tract_onnx::Onnx {
  let mut onnx = tract_onnx::onnx();
  tree_op::register(&mut onnx.op_register);
  preprocess::register(&mut onnx.op_register);
  onnx
}
