//! The shell of an element-wise f32 operator of tract-node's rewrites: it gives its input's type
//! and shape as its output's, and rewrites the values in place (a copy first when another node
//! still reads them), split over the intra-op threads as tract splits element-wise work.

use std::fmt::Debug;
use std::hash::Hash;

use tract_hir::internal::*;

/// What an element-wise f32 operator computes.
pub trait F32Map: Debug + Clone + PartialEq + Eq + Hash + Send + Sync + 'static {
  /// The operator's name in plans and profiles.
  const NAME: &'static str;

  /// Replaces each value of `values` by its image.
  fn map(&self, values: &mut [f32]) -> TractResult<()>;
}

/// An [`F32Map`] as a tract operator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InPlace<M>(pub M);

impl<M: F32Map> Op for InPlace<M> {
  fn name(&self) -> StaticName {
    M::NAME.into()
  }

  op_as_typed_op!();
}

impl<M: F32Map> TypedOp for InPlace<M> {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    Ok(tvec!(inputs[0].without_value()))
  }

  as_op!();
}

impl<M: F32Map> EvalOp for InPlace<M> {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let mut tensor = args_1!(inputs).into_tensor();
    let mut plain = tensor.try_as_plain_ram_mut()?;
    let values = plain.as_slice_mut::<f32>()?;
    let len = values.len();
    tract_linalg::multithread::par_chunks_mut(values, 1, len, |_, chunk| self.0.map(chunk))?;
    Ok(tvec!(tensor.into_tvalue()))
  }
}
