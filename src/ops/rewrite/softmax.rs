//! Softmax and LogSoftmax where tract is slow: on an axis other than the last (YOLOv8's box head
//! takes the softmax over 16 bins on axis 1, about 5× onnxruntime's time) or over short last-axis
//! rows. Computed as `[outer, n, inner]` blocks (`crate::ops::kernels::softmax`).

use tract_core::ops::nn::{Softmax, SoftmaxKind};
use tract_hir::internal::*;

use crate::cpu::Tier;
use crate::ops::kernels::softmax::softmax;

/// Rows at least this long on the last axis stay on tract's kernel.
const SHORT_ROW: usize = 64;

/// Replaces tract's f32 Softmax / LogSoftmax on one axis by [`StridedSoftmax`] where tract's is
/// slow (see the module doc), on `tier`'s kernel. Call on a decluttered model, before `optimize`.
pub fn replace_slow_softmaxes(model: &mut TypedModel, tier: Tier) -> TractResult<()> {
  for id in 0..model.nodes().len() {
    let node = model.node(id);
    let Some(softmax) = node.op_as::<Softmax>() else { continue };
    let fact = model.outlet_fact(node.inputs[0])?;
    let [axis] = softmax.axes.as_slice() else { continue };
    let last = *axis + 1 == fact.rank();
    let short = fact.shape[*axis].as_i64().is_some_and(|n| (n as usize) < SHORT_ROW);
    if fact.datum_type != f32::datum_type() || softmax.quant_output_dt.is_some() || (last && !short)
    {
      continue;
    }
    let log = softmax.kind == SoftmaxKind::LogSoftmax;
    let op = StridedSoftmax { tier, axis: *axis, log };
    model.node_mut(id).op = Box::new(op);
  }
  Ok(())
}

/// Softmax (or LogSoftmax) of f32 values along `axis`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct StridedSoftmax {
  tier: Tier,
  axis: usize,
  log: bool,
}

impl Op for StridedSoftmax {
  fn name(&self) -> StaticName {
    if self.log { "LogSoftmax" } else { "Softmax" }.into()
  }

  op_as_typed_op!();
}

impl TypedOp for StridedSoftmax {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    Ok(tvec!(inputs[0].without_value()))
  }

  as_op!();
}

impl EvalOp for StridedSoftmax {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let mut tensor = args_1!(inputs).into_tensor();
    let shape = tensor.shape().to_vec();
    let n = shape[self.axis];
    let inner: usize = shape[self.axis + 1..].iter().product();
    let mut plain = tensor.try_as_plain_ram_mut()?;
    let data = plain.as_slice_mut::<f32>()?;
    // SAFETY: the CPU runs the op's tier (the rewrite picked it from the CPU's tiers).
    unsafe { softmax(self.tier, data, n, inner, self.log) };
    Ok(tvec!(tensor.into_tvalue()))
  }
}
