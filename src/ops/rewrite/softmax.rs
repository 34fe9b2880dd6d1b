//! Softmax and LogSoftmax where tract is slow: on an axis other than the last (YOLOv8's box head
//! takes the softmax over 16 bins on axis 1, about 5× onnxruntime's time) or over short last-axis
//! rows (a text model's attention over a few tokens; when the row length is symbolic, it is checked
//! at run time). Computed as `[outer, n, inner]` blocks (`crate::ops::kernels::softmax`).

use tract_core::ops::nn::{Softmax, SoftmaxKind};
use tract_hir::internal::*;
use tract_linalg::multithread::par_chunks_mut;

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
    let length = fact.shape[*axis].as_i64();
    let long = length.is_some_and(|n| n as usize >= SHORT_ROW);
    if fact.datum_type != f32::datum_type() || softmax.quant_output_dt.is_some() || (last && long) {
      continue;
    }
    let log = softmax.kind == SoftmaxKind::LogSoftmax;
    let long_rows = (last && length.is_none()).then(|| softmax.clone());
    let op = StridedSoftmax { tier, axis: *axis, log, long_rows };
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
  /// tract's operator, for last-axis rows found at run time to be long.
  long_rows: Option<Softmax>,
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

  fn eval(&self, ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let n = inputs[0].shape()[self.axis];
    if let Some(tract) = self.long_rows.as_ref().filter(|_| n >= SHORT_ROW) {
      return tract.eval(ctx, inputs);
    }
    let mut tensor = args_1!(inputs).into_tensor();
    let shape = tensor.shape().to_vec();
    let inner: usize = shape[self.axis + 1..].iter().product();
    let mut plain = tensor.try_as_plain_ram_mut()?;
    let data = plain.as_slice_mut::<f32>()?;
    let (block, len) = (n * inner, data.len());
    if block > 0 {
      // Blocks are independent: split over the intra-op threads as tract splits element-wise work.
      par_chunks_mut(data, block, len, |_, blocks| {
        // SAFETY: the CPU runs the op's tier (the rewrite picked it from the CPU's tiers).
        unsafe { softmax(self.tier, blocks, n, inner, self.log) };
        Ok(())
      })?;
    }
    Ok(tvec!(tensor.into_tvalue()))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  crate::cpu::test_each_tier! {
    fn last_axis_rows_of_symbolic_length_equal_the_definition(tier: Tier) {
      let mut model = TypedModel::default();
      let rows = model.symbols.sym("rows");
      let length = model.symbols.sym("length");
      let x = model.add_source("x", f32::fact(&[rows.to_dim(), length.to_dim()])).unwrap();
      let op = Softmax::new(tvec![1], None, SoftmaxKind::Softmax);
      let y = model.wire_node("y", op, &[x]).unwrap();
      model.select_output_outlets(&y).unwrap();
      replace_slow_softmaxes(&mut model, tier).unwrap();
      assert!(model.node_by_name("y").unwrap().op_is::<StridedSoftmax>());
      let plan = model.into_runnable().unwrap();
      // Short rows on tract-node's kernel, long ones on tract's; enough short rows to be split
      // over two threads.
      for (rows, n) in [(2, 5), (2, SHORT_ROW - 1), (2, SHORT_ROW), (2, 3 * SHORT_ROW), (4099, 20)] {
        let values: Vec<f32> =
          (0..rows * n).map(|i| ((i * 37 % 23) as f32 - 11.0) / 3.0).collect();
        let input = Tensor::from_shape(&[rows, n], &values).unwrap();
        let output =
          crate::pool::intra_op::scope(2, || plan.run(tvec![input.into_tvalue()])).unwrap();
        let output = output[0].to_plain_array_view::<f32>().unwrap();
        for (row, got) in values.chunks(n).zip(output.rows()) {
          let max = row.iter().fold(f64::MIN, |m, &v| m.max(v as f64));
          let total: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
          for (&v, &got) in row.iter().zip(got) {
            let want = (v as f64 - max).exp() / total;
            assert!((got as f64 - want).abs() < 1e-6, "{rows} rows of {n}: {got} for {want}");
          }
        }
      }
    }
  }
}
