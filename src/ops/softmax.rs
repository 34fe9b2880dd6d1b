//! Softmax and LogSoftmax where tract is slow: on an axis other than the last (YOLOv8's box head
//! takes the softmax over 16 bins on axis 1: 40 ms for a 1×16×4×8400 tensor, ~5× onnxruntime) or
//! over short last-axis rows (16 values: 11 ms for 537,600 values). Computed here as `[outer, n,
//! inner]` with the reductions running along contiguous `inner` lanes, and a polynomial `exp`
//! (relative error < 3e-7) the compiler vectorises.

use tract_core::ops::nn::{Softmax, SoftmaxKind};
use tract_hir::internal::*;

/// Rows at least this long on the last axis stay on tract's kernel.
const SHORT_ROW: usize = 64;

/// Replaces tract's f32 Softmax / LogSoftmax on one axis by [`StridedSoftmax`] where tract's is
/// slow (see the module doc). Call on a decluttered model, before `optimize`.
pub fn replace_slow_softmaxes(model: &mut TypedModel) -> TractResult<()> {
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
    let op = StridedSoftmax { axis: *axis, log: softmax.kind == SoftmaxKind::LogSoftmax };
    model.node_mut(id).op = Box::new(op);
  }
  Ok(())
}

/// Softmax (or LogSoftmax) of f32 values along `axis`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct StridedSoftmax {
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
    if n > 0 && inner > 0 {
      for block in data.chunks_exact_mut(n * inner) {
        softmax_block(block, inner, self.log);
      }
    }
    Ok(tvec!(tensor.into_tvalue()))
  }
}

/// One `[n, inner]` block (`n` rows of `inner` lanes), softmax along `n`, in place.
fn softmax_block(block: &mut [f32], inner: usize, log: bool) {
  if inner == 1 {
    return softmax_row(block, log);
  }
  let mut max = block[..inner].to_vec();
  for row in block.chunks_exact(inner).skip(1) {
    max.iter_mut().zip(row).for_each(|(m, &x)| *m = if x > *m || x.is_nan() { x } else { *m });
  }
  let mut sum = vec![0f32; inner];
  for row in block.chunks_exact_mut(inner) {
    for ((x, m), s) in row.iter_mut().zip(&max).zip(&mut sum) {
      let shifted = *x - m;
      let e = exp(shifted);
      *s += e;
      *x = if log { shifted } else { e };
    }
  }
  for row in block.chunks_exact_mut(inner) {
    if log {
      row.iter_mut().zip(&sum).for_each(|(x, s)| *x -= s.ln());
    } else {
      row.iter_mut().zip(&sum).for_each(|(x, s)| *x /= s);
    }
  }
}

/// One contiguous row, in place (separate passes, so the `exp` pass vectorises).
fn softmax_row(row: &mut [f32], log: bool) {
  let max =
    row.iter().copied().fold(f32::NEG_INFINITY, |m, x| if x > m || x.is_nan() { x } else { m });
  if log {
    row.iter_mut().for_each(|x| *x -= max);
    let log_sum = row.iter().map(|&x| exp(x)).sum::<f32>().ln();
    row.iter_mut().for_each(|x| *x -= log_sum);
  } else {
    row.iter_mut().for_each(|x| *x = exp(*x - max));
    let sum: f32 = row.iter().sum();
    row.iter_mut().for_each(|x| *x /= sum);
  }
}

/// `e^x` for f32: range reduction to `x = k·ln 2 + r`, `|r| ≤ ln 2 / 2`, a degree-6 polynomial
/// for `e^r`, and `2^k` through the exponent bits. For `x ≤ 88.3` (softmax feeds it `x − max ≤ 0`):
/// 0 below −87.3, NaN stays NaN.
#[inline]
fn exp(x: f32) -> f32 {
  const LN2_HI: f32 = 0.693_145_75;
  const LN2_LO: f32 = 1.428_606_8e-6;
  // Adding and subtracting 1.5 · 2²³ rounds to the nearest integer without a libm call.
  const ROUND: f32 = 12_582_912.0;
  let clamped = x.clamp(-87.3, 88.3); // NaN stays NaN, and so does the result
  let k = (clamped * std::f32::consts::LOG2_E + ROUND) - ROUND;
  let r = clamped - k * LN2_HI - k * LN2_LO;
  let p = 1.0
    + r
      * (1.0
        + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
  let scaled = p * f32::from_bits(((k as i32 + 127) << 23) as u32);
  if x < -87.3 {
    0.0
  } else {
    scaled
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn exp_is_within_3e7_relative() {
    for i in -8700..=8800 {
      let x = i as f32 / 100.0;
      let (fast, exact) = (exp(x), (x as f64).exp());
      assert!(((fast as f64 - exact) / exact).abs() < 3e-7, "exp({x}) = {fast}, expected {exact}");
    }
    assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    assert!(exp(f32::NAN).is_nan());
  }

  #[test]
  fn strided_softmax_equals_the_definition() {
    // [2, 3, 2]: softmax along axis 1, lanes of 2.
    let data: Vec<f32> = (0..12).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
    let mut strided = data.clone();
    for block in strided.chunks_exact_mut(6) {
      softmax_block(block, 2, false);
    }
    for (outer, lane) in (0..2).flat_map(|o| (0..2).map(move |l| (o, l))) {
      let values: Vec<f64> = (0..3).map(|k| data[outer * 6 + k * 2 + lane] as f64).collect();
      let total: f64 = values.iter().map(|v| v.exp()).sum();
      for (k, v) in values.iter().enumerate() {
        assert!((strided[outer * 6 + k * 2 + lane] as f64 - v.exp() / total).abs() < 1e-6);
      }
    }
  }
}
