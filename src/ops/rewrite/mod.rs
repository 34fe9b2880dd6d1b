//! Graph rewrites of a typed model, entered through [`optimize`]: tract-node's direct operators
//! for what tract runs slowly, around tract's own declutter and codegen.

mod activation_product;
mod batched_conv;
mod batched_product;
mod block_copy;
mod consumer;
mod conv;
#[cfg(test)]
mod conv_case;
mod dense_conv;
mod dense_product;
mod depthwise;
mod gelu_exact;
mod hard_swish;
mod in_place;
mod max_pool;
mod per_channel;
mod pointwise_conv;
mod row_sum;
mod softmax;
mod symbolic_sum;
mod vector_product;

use tract_hir::internal::*;

use crate::cpu::Tier;
use crate::ops::onnx::conditional;

/// A typed model made ready to run on `tier`'s kernels: tract-node's rewrites around tract's
/// declutter, then tract's optimisation (`codegen`, unless asked not to).
///
/// Before declutter, strided 1 × 1 convolutions get a direct implementation (declutter then folds
/// the BatchNormalizations after them into it), and batched convolutions with a window are split
/// per image (tract then lowers each as it does at batch 1). After it, `If`s whose condition is
/// known only at run time get planned branches, per-channel operands are broadcast over the batch,
/// softmaxes tract runs slowly get a strided implementation, spelled-out hard-swishes become one
/// operator, exact GELUs run vectorised, depthwise and dense convolutions get direct implementations, products over a batch of
/// channel-first images loop over the batch, products of a matrix by constant weights and batches
/// of products of two activations (attention) run on tract-node's own tiles, and batch-1 products
/// with constant weights run on packed weights, split in shares for runs on several `threads`.
/// After optimisation, constant pads, strided subsampling and 2-D max pooling get row-wise
/// implementations, and f32 sums along the last axis one split over the threads. Rewrites whose
/// kernels a tier lacks leave the model to tract's lowering there.
///
/// Fails if this CPU cannot run `tier`.
pub fn optimize(
  mut model: TypedModel,
  codegen: bool,
  threads: usize,
  tier: Tier,
) -> TractResult<TypedModel> {
  crate::cpu::selection();
  ensure!(tier.is_supported(), "this CPU cannot run tract-node's {tier} kernels");
  pointwise_conv::replace_strided_pointwise_convolutions(&mut model, tier)?;
  batched_conv::split_batched_convolutions(&mut model)?;
  model.declutter()?;
  conditional::plan_runtime_conditionals(&mut model);
  per_channel::broadcast_per_channel_operands(&mut model)?;
  softmax::replace_slow_softmaxes(&mut model, tier)?;
  hard_swish::fuse_hard_swishes(&mut model)?;
  gelu_exact::replace_gelu_exacts(&mut model)?;
  depthwise::replace_depthwise_convolutions(&mut model, tier)?;
  dense_conv::replace_dense_convolutions(&mut model, tier)?;
  batched_product::broadcast_weights_over_batches(&mut model)?;
  dense_product::replace_dense_products(&mut model, tier)?;
  activation_product::replace_activation_products(&mut model, tier)?;
  let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
  vector_product::replace_vector_products(&mut model, tier, threads.min(cores))?;
  symbolic_sum::replace_symbolic_sums(&mut model)?;
  if codegen {
    model.optimize()?;
  }
  block_copy::replace_block_copies(&mut model)?;
  max_pool::replace_max_pools(&mut model, tier)?;
  row_sum::replace_row_sums(&mut model)?;
  Ok(model)
}
