//! Sums of f32 rows on the last axis (a transformer's layer norms take each token's mean so), the
//! rows split over the intra-op threads: tract's reduction ran them on one thread whatever the
//! plan's thread count. Each row is summed in order, front to back: a quantized model downstream
//! can be sensitive to the last bits of a mean (an int8 MiniLM's embeddings drifted from
//! onnxruntime's beyond the tests' tolerance when the sums ran in interleaved lanes).

use tract_core::ops::nn::{Reduce, Reducer};
use tract_hir::internal::*;
use tract_linalg::multithread::par_chunks_mut;

/// Replaces every f32 `Reduce<Sum>` over the last axis alone by [`RowSum`]. Call on an optimised
/// model (tract's own fusions first).
pub fn replace_row_sums(model: &mut TypedModel) -> TractResult<()> {
  for id in 0..model.nodes().len() {
    let node = model.node(id);
    let Some(reduce) = node.op_as::<Reduce>() else { continue };
    let fact = model.outlet_fact(node.inputs[0])?;
    let last_axis = fact.rank().checked_sub(1);
    let f32_sum = reduce.reducer == Reducer::Sum && fact.datum_type == f32::datum_type();
    if f32_sum && last_axis.is_some_and(|axis| reduce.axes.as_slice() == [axis]) {
      model.node_mut(id).op = Box::new(RowSum);
    }
  }
  Ok(())
}

/// The sum of each row of an f32 tensor along its last axis, which the output keeps as 1 long.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowSum;

impl Op for RowSum {
  fn name(&self) -> StaticName {
    "RowSum".into()
  }

  op_as_typed_op!();
}

impl TypedOp for RowSum {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    let mut shape = inputs[0].shape.to_tvec();
    *shape.last_mut().context("a row sum of a scalar")? = 1.to_dim();
    Ok(tvec!(f32::fact(shape)))
  }

  as_op!();
}

impl EvalOp for RowSum {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let input = args_1!(inputs);
    let mut shape = input.shape().to_vec();
    let row = std::mem::replace(shape.last_mut().context("a row sum of a scalar")?, 1);
    let input = input.try_as_plain_ram()?;
    let values = input.as_slice::<f32>()?;
    let mut sums = vec![0f32; shape.iter().product()];
    if row > 0 {
      par_chunks_mut(&mut sums, 1, values.len(), |first, sums| {
        let rows = values[first * row..].chunks_exact(row);
        sums.iter_mut().zip(rows).for_each(|(sum, row)| *sum = row.iter().sum());
        Ok(())
      })?;
    }
    Ok(tvec!(Tensor::from_shape(&shape, &sums)?.into_tvalue()))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn row_sums_equal_the_definition_on_two_threads() {
    let mut model = TypedModel::default();
    let rows = model.symbols.sym("rows");
    let fact = f32::fact(&[rows.to_dim(), 3.to_dim(), 384.to_dim()]);
    let x = model.add_source("x", fact).unwrap();
    let sum = model.wire_node("sum", Reduce::new(tvec![2], Reducer::Sum), &[x]).unwrap();
    let first = model.wire_node("first", Reduce::new(tvec![0], Reducer::Sum), &[x]).unwrap();
    model.select_output_outlets(&[sum[0], first[0]]).unwrap();
    replace_row_sums(&mut model).unwrap();
    assert!(model.node_by_name("sum").unwrap().op_is::<RowSum>());
    assert!(model.node_by_name("first").unwrap().op_is::<Reduce>());
    let plan = model.into_runnable().unwrap();
    // Rows enough to be split over the threads, at a row count no split lands on evenly.
    for rows in [1, 211] {
      let values: Vec<f32> =
        (0..rows * 3 * 384).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
      let input = Tensor::from_shape(&[rows, 3, 384], &values).unwrap();
      let outputs =
        crate::pool::intra_op::scope(2, || plan.run(tvec![input.into_tvalue()])).unwrap();
      assert_eq!(outputs[0].shape(), &[rows, 3, 1]);
      let got = outputs[0].to_plain_array_view::<f32>().unwrap();
      for (row, &got) in values.chunks(384).zip(got.iter()) {
        let want: f64 = row.iter().map(|&v| v as f64).sum();
        assert!((got as f64 - want).abs() < 1e-3, "{rows} rows: {got} for {want}");
      }
    }
  }
}
