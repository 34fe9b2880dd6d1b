//! Which nodes of a plan are split across the intra-op threads.
//!
//! A node is worth splitting when it does enough work to pay for handing part of it to a helper
//! thread (tens of microseconds in a VM): otherwise the calling thread would have finished alone
//! first. tract decides per matrix product from its panel count, which on this machine split a
//! chain of small convolutions (PP-OCR's direction classifier, batch 4) so finely that 2 threads
//! took 10.8 ms where 1 took 8.6; gated by multiply-adds (and with element-wise operations split
//! from 2¹⁸ values, see `intra_op`), 2 threads take 8.0–8.9 ms. tract's own gates stay in place
//! for the nodes this one lets through, and nodes that report no multiply-adds are left to them.

use std::sync::Arc;

use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{EvalContext, OpState};
use tract_onnx::tract_core::ops::Cost;
use tract_onnx::tract_core::plan::eval;

use super::intra_op::scope;

/// Multiply-adds from which a node is split: about 30 µs of one core's work in a matrix product.
const MIN_SPLIT_FMAS: u64 = 1 << 21;

/// Multiply-adds per output from which a product is split whatever its size (then down to tract's
/// matrix-vector gate, 2¹⁷): a product with few outputs, each reducing a long row, reads far more
/// weights than it writes, runs at the speed of memory, and each core streams only its share of the
/// weights (the batch-1 MLP 784-512-512-10, whose products reduce rows of 784 and 512).
const MIN_SPLIT_ROW_LENGTH: u64 = 256;

/// The split decision for every node of one plan.
pub struct Gate {
  single_threaded: Vec<bool>,
}

impl Gate {
  /// Decides for each node of `model`, from its facts. Nodes whose size is not known until run
  /// time (symbolic dims), or that report no multiply-adds, are left to tract's gates.
  pub fn new(model: &TypedModel) -> Gate {
    let single_threaded = model.nodes().iter().map(|node| is_small(model, node)).collect();
    Gate { single_threaded }
  }

  /// Runs `plan` (the plan of the model this gate was built from) with `threads` intra-op threads.
  pub fn run(
    &self,
    plan: &Arc<TypedSimplePlan>,
    threads: usize,
    inputs: TVec<TValue>,
  ) -> TractResult<TVec<TValue>> {
    if threads <= 1 {
      return plan.run(inputs);
    }
    let mut state = TypedSimpleState::new(plan)?;
    scope(threads, || state.run_plan_with_eval(inputs, |c, s, n, i| self.eval(c, s, n, i)))
  }

  /// Evaluates one node, on the calling thread alone when it is small.
  pub fn eval(
    &self,
    ctx: &EvalContext,
    op_state: Option<&mut (dyn OpState + 'static)>,
    node: &TypedNode,
    inputs: TVec<TValue>,
  ) -> TractResult<TVec<TValue>> {
    if self.single_threaded.get(node.id).copied().unwrap_or(false) {
      multithread_tract_scope(Executor::SingleThread, || eval(ctx, op_state, node, inputs))
    } else {
      eval(ctx, op_state, node, inputs)
    }
  }
}

/// Whether `node` is known to be too small to split.
fn is_small(model: &TypedModel, node: &TypedNode) -> bool {
  match (fmas(model, node), output_elements(node)) {
    (Some(fmas), Some(outputs)) => too_small(fmas, outputs),
    _ => false,
  }
}

/// The rule, from a node's multiply-adds and output count.
fn too_small(fmas: u64, outputs: u64) -> bool {
  fmas < MIN_SPLIT_FMAS && fmas < MIN_SPLIT_ROW_LENGTH.saturating_mul(outputs)
}

/// How many values `node` outputs, when its output shapes are concrete.
fn output_elements(node: &TypedNode) -> Option<u64> {
  node.outputs.iter().try_fold(0u64, |total, output| {
    let volume = output.fact.shape.as_concrete()?.iter().product::<usize>();
    Some(total.saturating_add(volume as u64))
  })
}

/// The multiply-adds `node` reports for its input facts: `None` when it reports none or they are
/// not concrete.
fn fmas(model: &TypedModel, node: &TypedNode) -> Option<u64> {
  let facts = model.node_input_facts(node.id).ok()?;
  let mut total = 0u64;
  for (cost, count) in node.op.cost(&facts).ok()? {
    if let Cost::FMA(_) = cost {
      total = total.saturating_add(count.to_i64().ok()?.try_into().ok()?);
    }
  }
  (total > 0).then_some(total)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn products_split_when_big_or_reducing_long_rows() {
    // A 1×1 convolution of 16 to 32 channels over 24×96 pixels: 1.2M multiply-adds, rows of 16.
    assert!(too_small(16 * 32 * 24 * 96, 32 * 24 * 96));
    // The MLP's first layer at batch 64, and at batch 1 (a matrix × vector, rows of 784).
    assert!(!too_small(64 * 784 * 512, 64 * 512));
    assert!(!too_small(784 * 512, 512));
  }
}
