//! Sums of two f32 tensors of one symbolic shape (a transformer's residual connections, in a plan
//! that keeps the sequence length open). tract turns a sum into its element-wise kernel only when it
//! can prove the tensors hold more than a few values, which a symbolic size never does, and leaves
//! it to its generic broadcasting `Add`, which walks the values index by index. Here the sum is
//! taken in place, in whichever input no other node still reads.

use tract_core::ops::binary::TypedBinOp;
use tract_core::ops::math::Add;
use tract_hir::internal::*;

/// Replaces every f32 `Add` of two inputs of one shape with symbolic dims by [`SymbolicSum`]. Call
/// before tract's codegen (which keeps the sums it can prove big for its own kernel).
pub fn replace_symbolic_sums(model: &mut TypedModel) -> TractResult<()> {
  for id in 0..model.nodes().len() {
    let node = model.node(id);
    let Some(bin) = node.op_as::<TypedBinOp>() else { continue };
    let &[a, b] = &node.inputs[..] else { continue };
    let (a, b) = (model.outlet_fact(a)?, model.outlet_fact(b)?);
    let f32_sum = bin.0.is::<Add>() && bin.1.is_none() && a.datum_type == f32::datum_type();
    if f32_sum && a.datum_type == b.datum_type && a.shape == b.shape && !a.shape.is_concrete() {
      model.node_mut(id).op = Box::new(SymbolicSum);
    }
  }
  Ok(())
}

/// The sum of two f32 tensors of the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SymbolicSum;

impl Op for SymbolicSum {
  fn name(&self) -> StaticName {
    "SymbolicSum".into()
  }

  op_as_typed_op!();
}

impl TypedOp for SymbolicSum {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    Ok(tvec!(inputs[0].without_value()))
  }

  as_op!();
}

impl EvalOp for SymbolicSum {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let (a, b) = args_2!(inputs);
    ensure!(a.shape() == b.shape(), "sum of shapes {:?} and {:?}", a.shape(), b.shape());
    // The sum is commutative: it goes into the input no other node reads, if either.
    let (into, other) = if !a.is_exclusive() && b.is_exclusive() { (b, a) } else { (a, b) };
    let mut sum = into.into_tensor();
    let mut plain = sum.try_as_plain_ram_mut()?;
    let values = plain.as_slice_mut::<f32>()?;
    let other = other.try_as_plain_ram()?;
    let other = other.as_slice::<f32>()?;
    let len = values.len();
    tract_linalg::multithread::par_chunks_mut(values, 1, len, |first, chunk| {
      chunk.iter_mut().zip(&other[first..]).for_each(|(value, &added)| *value += added);
      Ok(())
    })?;
    Ok(tvec!(sum.into_tvalue()))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  /// `x + y` over inputs of `shape`, `y` also an output (so the sum cannot take its values).
  fn model(shape: impl Fn(&TypedModel) -> TypedFact) -> TypedModel {
    let mut model = TypedModel::default();
    let fact = shape(&model);
    let x = model.add_source("x", fact.clone()).unwrap();
    let y = model.add_source("y", fact).unwrap();
    let sum = model.wire_node("sum", tract_core::ops::math::add(), &[x, y]).unwrap();
    model.select_output_outlets(&[sum[0], y]).unwrap();
    model
  }

  #[test]
  fn sums_of_symbolic_shapes_equal_the_definition_and_leave_their_inputs() {
    let mut model = model(|model| f32::fact(&[model.symbols.sym("batch").to_dim(), 3.to_dim()]));
    replace_symbolic_sums(&mut model).unwrap();
    assert!(model.node_by_name("sum").unwrap().op_is::<SymbolicSum>());
    let plan = model.into_runnable().unwrap();
    let x = tensor2(&[[1f32, 2., 3.], [4., 5., 6.]]);
    let y = tensor2(&[[0.5f32, -2., 10.], [1e6, 0., -6.]]);
    let outputs = plan.run(tvec![x.into_tvalue(), y.clone().into_tvalue()]).unwrap();
    assert_eq!(*outputs[0], tensor2(&[[1.5f32, 0., 13.], [1_000_004., 5., 0.]]));
    assert_eq!(*outputs[1], y);
  }

  #[test]
  fn sums_of_known_shapes_stay_with_tract() {
    let mut model = model(|_| f32::fact([2, 3]));
    replace_symbolic_sums(&mut model).unwrap();
    assert!(!model.node_by_name("sum").unwrap().op_is::<SymbolicSum>());
  }
}
