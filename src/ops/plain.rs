//! The shell of an operator computed directly, outside tract's optimiser: the operator gives its
//! output types and shapes from its inputs', and evaluates. For operators tract lacks and models use
//! rarely enough that a plain loop is fast enough (its results are checked against the ONNX suite).

use std::fmt::Debug;
use std::sync::Arc;

use tract_hir::internal::*;
use tract_ndarray::ArrayD;

/// An output's element type and shape.
pub type FactSpec = (DatumType, TVec<TDim>);

/// What a plainly computed operator does.
pub trait Plain: Debug + Send + Sync + 'static {
  /// The ONNX operator name.
  fn name(&self) -> &'static str;

  /// How many outputs it has.
  fn nboutputs(&self) -> usize {
    1
  }

  /// Output types and shapes from the inputs'.
  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>>;

  /// Computes the outputs.
  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>>;

  /// Whether each output value depends only on the input values at its position, the inputs
  /// broadcast to the output as ONNX broadcasts (aligned to the last axis). Such operators keep every
  /// axis row by row (which batch splitting reads, `crate::session::batch_split`).
  fn is_elementwise(&self) -> bool {
    false
  }
}

/// A tensor's values as an owned array of `T`, cast when the tensor has another type.
pub fn array_of<T: Datum>(tensor: &Tensor) -> TractResult<ArrayD<T>> {
  Ok(tensor.cast_to::<T>()?.to_plain_array_view::<T>()?.to_owned())
}

/// A tensor's values, flat, as `T`, cast when the tensor has another type.
pub fn values_of<T: Datum>(tensor: &Tensor) -> TractResult<Vec<T>> {
  Ok(tensor.cast_to::<T>()?.try_as_plain_ram()?.as_slice::<T>()?.to_vec())
}

/// Wraps a [`Plain`] operator as tract's parser wants it.
pub fn plain<P: Plain>(op: P) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  Ok((expand(PlainExpansion(Arc::new(op))), vec![]))
}

/// The inference-level operator.
#[derive(Debug)]
struct PlainExpansion<P>(Arc<P>);

impl<P> Clone for PlainExpansion<P> {
  fn clone(&self) -> Self {
    PlainExpansion(self.0.clone())
  }
}

impl<P: Plain> Expansion for PlainExpansion<P> {
  fn name(&self) -> StaticName {
    self.0.name().into()
  }

  fn nboutputs(&self) -> TractResult<usize> {
    Ok(self.0.nboutputs())
  }

  fn rules<'r, 'p: 'r, 's: 'r>(
    &'s self,
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
  ) -> InferenceResult {
    check_output_arity(outputs, self.0.nboutputs())?;
    let op = self.0.clone();
    s.given_all(inputs.iter().map(|i| (&i.datum_type).bex()), move |s, types: Vec<DatumType>| {
      let op = op.clone();
      s.given_all(inputs.iter().map(|i| &i.shape), move |s, shapes: Vec<TVec<TDim>>| {
        let facts: Vec<FactSpec> = types.iter().copied().zip(shapes).collect();
        for (output, (dt, shape)) in outputs.iter().zip(op.output_facts(&facts)?) {
          s.equals(&output.datum_type, dt)?;
          s.equals(&output.shape, ShapeFactoid::from(shape))?;
        }
        Ok(())
      })
    })
  }

  fn wire(
    &self,
    prefix: &str,
    model: &mut TypedModel,
    inputs: &[OutletId],
  ) -> TractResult<TVec<OutletId>> {
    model.wire_node(prefix, PlainOp(self.0.clone()), inputs)
  }
}

/// The runnable operator.
#[derive(Debug)]
struct PlainOp<P>(Arc<P>);

impl<P> Clone for PlainOp<P> {
  fn clone(&self) -> Self {
    PlainOp(self.0.clone())
  }
}

impl<P> PartialEq for PlainOp<P> {
  fn eq(&self, other: &Self) -> bool {
    Arc::ptr_eq(&self.0, &other.0)
  }
}

impl<P> Eq for PlainOp<P> {}

impl<P: Plain> Op for PlainOp<P> {
  fn name(&self) -> StaticName {
    self.0.name().into()
  }

  op_as_typed_op!();
}

impl<P: Plain> EvalOp for PlainOp<P> {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    self.0.eval(inputs)
  }
}

impl<P: Plain> TypedOp for PlainOp<P> {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    let facts: Vec<FactSpec> = inputs.iter().map(|f| (f.datum_type, f.shape.to_tvec())).collect();
    Ok(self.0.output_facts(&facts)?.into_iter().map(|(dt, shape)| dt.fact(&*shape)).collect())
  }

  fn axes_mapping(
    &self,
    inputs: &[&TypedFact],
    outputs: &[&TypedFact],
  ) -> TractResult<AxesMapping> {
    if !self.0.is_elementwise() {
      return AxesMapping::disconnected(inputs, outputs);
    }
    let rank = outputs.iter().map(|o| o.rank()).max().unwrap_or(0);
    let axes = (0..rank).zip('a'..).map(|(axis, repr)| {
      let mut mapped = Axis::new(repr, inputs.len(), outputs.len());
      for (slot, input) in inputs.iter().enumerate() {
        // Aligned to the last axis; an input's dims of 1 broadcast.
        if let Some(position) = (axis + input.rank()).checked_sub(rank) {
          mapped = mapped.input(slot, position);
        }
      }
      (0..outputs.len()).fold(mapped, |mapped, slot| mapped.output(slot, axis))
    });
    AxesMapping::new(inputs.len(), outputs.len(), axes.collect::<TVec<_>>())
  }

  as_op!();
}
