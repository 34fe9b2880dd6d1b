//! tract's ONNX parser with tract-node's operators registered over tract's own: ai.onnx operators
//! tract lacks or handles in a way real models trip on, and the ai.onnx.ml operators of
//! [`crate::ops::ml`]; and [`fixes`], rewrites of the ONNX graph for constructs tract's parser gets
//! wrong.

mod attention;
mod causal_conv;
pub mod conditional;
mod elementwise;
pub mod fixes;
mod losses;
mod lp_pool;
mod prelu;
mod upsample;

/// tract's ONNX parser with tract-node's operators registered over tract's own.
pub fn parser() -> tract_onnx::Onnx {
  crate::cpu::selection();
  let mut onnx = tract_onnx::onnx();
  let registry = &mut onnx.op_register;
  crate::ops::ml::register(registry);
  conditional::register(registry);
  attention::register(registry);
  losses::register(registry);
  elementwise::register(registry);
  causal_conv::register(registry);
  upsample::register(registry);
  prelu::register(registry);
  lp_pool::register(registry);
  onnx
}
