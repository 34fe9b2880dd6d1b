//! tract's ONNX parser with tract-node's operators registered over tract's own: the ai.onnx.ml
//! operators scikit-learn exports (`crate::ml_ops`) and ai.onnx operators tract handles in a way real
//! models trip on.

mod attention;
mod batched_conv;
mod batched_product;
mod block_copy;
mod causal_conv;
mod column_panels;
mod conditional;
mod consumer;
#[cfg(test)]
mod conv_case;
mod conv_rows;
mod dense_conv;
mod dense_product;
mod depthwise;
mod elementwise;
mod hard_swish;
mod kernel_tier;
mod losses;
mod lp_pool;
mod max_pool;
mod per_channel;
pub(crate) mod plain;
mod pointwise_conv;
mod prelu;
mod softmax;
mod tasks;
mod upsample;
mod vector_product;

use tract_hir::internal::*;

/// tract's ONNX parser with tract-node's operators registered over tract's own.
pub fn onnx() -> tract_onnx::Onnx {
  let mut onnx = tract_onnx::onnx();
  crate::ml_ops::register(&mut onnx.op_register);
  conditional::register(&mut onnx.op_register);
  attention::register(&mut onnx.op_register);
  losses::register(&mut onnx.op_register);
  elementwise::register(&mut onnx.op_register);
  causal_conv::register(&mut onnx.op_register);
  upsample::register(&mut onnx.op_register);
  prelu::register(&mut onnx.op_register);
  lp_pool::register(&mut onnx.op_register);
  onnx
}

/// A typed model made ready to run: tract-node's rewrites around tract's declutter, then tract's
/// optimisation (`codegen`, unless asked not to). Before declutter, strided 1 × 1 convolutions get
/// a direct implementation (declutter then folds the BatchNormalizations after them into it), and
/// batched convolutions with a window are split per image (tract then lowers each as it does at
/// batch 1); after it, `If`s whose condition is known only at run time get planned branches,
/// per-channel operands are broadcast over the batch, softmaxes tract runs slowly get a strided
/// implementation, spelled-out hard-swishes become one operator, depthwise and dense convolutions
/// get direct implementations, products over a batch of channel-first images loop over the batch,
/// products of a matrix by constant weights run on tract-node's own tiles, and batch-1 products
/// with constant weights run on packed weights, split over partner threads for runs on several
/// `threads`. After optimisation, constant pads, strided subsampling and 2-D max pooling get
/// row-wise implementations.
pub fn optimize(mut model: TypedModel, codegen: bool, threads: usize) -> TractResult<TypedModel> {
  pointwise_conv::replace_strided_pointwise_convolutions(&mut model)?;
  batched_conv::split_batched_convolutions(&mut model)?;
  model.declutter()?;
  conditional::plan_runtime_conditionals(&mut model);
  per_channel::broadcast_per_channel_operands(&mut model)?;
  softmax::replace_slow_softmaxes(&mut model)?;
  hard_swish::fuse_hard_swishes(&mut model)?;
  depthwise::replace_depthwise_convolutions(&mut model)?;
  dense_conv::replace_dense_convolutions(&mut model)?;
  batched_product::broadcast_weights_over_batches(&mut model)?;
  dense_product::replace_dense_products(&mut model)?;
  let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
  vector_product::replace_vector_products(&mut model, threads.min(cores))?;
  if codegen {
    model.optimize()?;
  }
  block_copy::replace_block_copies(&mut model)?;
  max_pool::replace_max_pools(&mut model)?;
  Ok(model)
}
