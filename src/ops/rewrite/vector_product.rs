//! Batch-1 products with constant weights, on weights packed for a vector
//! (`crate::ops::kernels::column_panels`) and, on several threads, split in shares that run on the
//! same threads every time, each keeping its part of the weights in its own cache
//! (`crate::ops::kernels::split::shares`).
//!
//! tract splits a product by chunks that go to whichever helper steals them, and only from 2¹⁹
//! multiply-adds, so at batch 1 every run streams every weight matrix through one core from L3.

use std::sync::Arc;

use tract_core::ops::einsum::EinSum;
use tract_hir::internal::*;

use crate::cpu::Tier;
use crate::ops::kernels::column_panels::{ColumnPanels, PANEL};
use crate::ops::kernels::split::{shares, Share};

/// Weight matrices from this many values (256 KB of f32) are split: smaller products take a few
/// microseconds, about what handing a part over costs. Smaller ones run on the calling thread,
/// still packed (a fifth of tract's time, which packs the row and dispatches a kernel).
const MIN_SPLIT_VALUES: usize = 1 << 16;

/// Panels pad the last block of columns with zeros: weights are packed only while that at most
/// doubles them, or the padded panels hold at most this many values (1 MB of f32).
const MAX_PADDED_VALUES: usize = 1 << 18;

/// Replaces f32 products of a vector (every axis but the summed one of size 1) by a constant matrix
/// with [`VectorProduct`] on `tier`'s kernel, split `parts` ways when the matrix has at least
/// [`MIN_SPLIT_VALUES`]. Call on a decluttered model with concrete shapes, before `optimize`. On one
/// thread the packed product still saves tract's per-product overhead (packing the row,
/// dispatching its kernel).
pub fn replace_vector_products(
  model: &mut TypedModel,
  tier: Tier,
  parts: usize,
) -> TractResult<()> {
  let parts = parts.max(1);
  for id in 0..model.nodes().len() {
    let Some((input, op)) = vector_product(model, model.node(id), tier, parts)? else { continue };
    let node = model.node_mut(id);
    node.inputs = vec![node.inputs[input]];
    node.op = Box::new(op);
  }
  model.compact()
}

/// The vector input's slot and the replacing op, when `node` is such a product.
fn vector_product(
  model: &TypedModel,
  node: &TypedNode,
  tier: Tier,
  parts: usize,
) -> TractResult<Option<(usize, VectorProduct)>> {
  let Some(einsum) = node.op_as::<EinSum>() else { return Ok(None) };
  let f32_dt = f32::datum_type();
  if node.inputs.len() != 2 || einsum.q_params.is_some() || einsum.operating_dt != f32_dt {
    return Ok(None);
  }
  let facts = model.node_input_facts(node.id)?;
  let output = model.outlet_fact(OutletId::new(node.id, 0))?;
  let Some(output_shape) = output.shape.as_concrete() else { return Ok(None) };
  for (vector, matrix) in [(0, 1), (1, 0)] {
    let Some(weights) = &facts[matrix].konst else { continue };
    let Some(vector_shape) = facts[vector].shape.as_concrete() else { continue };
    if facts[vector].konst.is_some()
      || facts[vector].datum_type != f32_dt
      || weights.datum_type() != f32_dt
      || weights.rank() != 2
      || output.datum_type != f32_dt
    {
      continue;
    }
    let Some(k_in_weights) = summed_axis(&einsum.axes, vector, matrix, vector_shape, output_shape)
    else {
      continue;
    };
    let view = weights.to_plain_array_view::<f32>()?.into_dimensionality::<tract_ndarray::Ix2>()?;
    let (k, n) = if k_in_weights == 0 { view.dim() } else { (view.dim().1, view.dim().0) };
    let at = |r: usize, c: usize| if k_in_weights == 0 { view[(r, c)] } else { view[(c, r)] };
    if k * n.next_multiple_of(PANEL) > (2 * k * n).max(MAX_PADDED_VALUES) {
      continue;
    }
    let panels = Arc::new(ColumnPanels::pack(k, n, at));
    let parts = if weights.len() >= MIN_SPLIT_VALUES { parts } else { 1 };
    let op = VectorProduct { tier, panels, parts, output_shape: output_shape.into() };
    return Ok(Some((vector, op)));
  }
  Ok(None)
}

/// The position in the weights of the summed axis, when `axes` multiplies a vector (input
/// `vector`: one summed axis, every other of size 1) by the weights (input `matrix`: the summed
/// axis and one output axis) into a vector (the output axis, every other of size 1).
fn summed_axis(
  axes: &AxesMapping,
  vector: usize,
  matrix: usize,
  vector_shape: &[usize],
  output_shape: &[usize],
) -> Option<usize> {
  let (mut summed, mut kept) = (None, false);
  for axis in axes.iter_all_axes() {
    let (in_vector, in_matrix, in_output) =
      (&axis.inputs[vector], &axis.inputs[matrix], &axis.outputs[0]);
    match (in_vector.len(), in_matrix.len(), in_output.len()) {
      (1, 1, 0) if summed.is_none() => summed = Some(in_matrix[0]),
      (0, 1, 1) if !kept => kept = true,
      (_, 0, _)
        if in_vector.iter().all(|&p| vector_shape[p] == 1)
          && in_output.iter().all(|&p| output_shape[p] == 1) => {}
      _ => return None,
    }
  }
  summed.filter(|_| kept)
}

/// `x · W` for a vector `x` and constant weights `W`, computed in `parts` blocks of panels at once
/// when the run is the only one in flight (otherwise the other cores are busy, and it runs on the
/// calling thread alone).
#[derive(Debug, Clone)]
pub struct VectorProduct {
  tier: Tier,
  panels: Arc<ColumnPanels>,
  parts: usize,
  output_shape: TVec<usize>,
}

impl PartialEq for VectorProduct {
  fn eq(&self, other: &Self) -> bool {
    Arc::ptr_eq(&self.panels, &other.panels)
      && self.tier == other.tier
      && self.parts == other.parts
      && self.output_shape == other.output_shape
  }
}

impl Eq for VectorProduct {}

impl VectorProduct {
  /// Writes `x · W` into `y`, in `parts` shares at once.
  fn compute(&self, x: &[f32], parts: usize, y: &mut [f32]) {
    let blocks = blocks(self.panels.panels(), parts);
    if let [all] = blocks.as_slice() {
      // SAFETY: the CPU runs the op's tier (the rewrite picked it from the CPU's tiers).
      return unsafe { self.panels.product(self.tier, x, all.clone(), y) };
    }
    let x: Arc<[f32]> = x.into();
    let work: Vec<Share> = blocks
      .into_iter()
      .map(|block| {
        let (tier, panels, x) = (self.tier, self.panels.clone(), x.clone());
        Box::new(move || {
          let mut part = vec![0f32; panels.columns_of(&block).len()];
          // SAFETY: as above.
          unsafe { panels.product(tier, &x, block, &mut part) };
          part
        }) as Share
      })
      .collect();
    let mut y = y;
    for part in shares().run(work) {
      let (into, rest) = y.split_at_mut(part.len());
      into.copy_from_slice(&part);
      y = rest;
    }
  }
}

/// `count` panels cut into at most `parts` contiguous blocks of near-equal size.
fn blocks(count: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
  let parts = parts.clamp(1, count.max(1));
  (0..parts).map(|i| count * i / parts..count * (i + 1) / parts).collect()
}

impl Op for VectorProduct {
  fn name(&self) -> StaticName {
    "VectorProduct".into()
  }

  fn info(&self) -> TractResult<Vec<String>> {
    let (k, n) = (self.panels.rows(), self.panels.columns());
    Ok(vec![format!("{k}×{n} weights in {} parts", self.parts)])
  }

  op_as_typed_op!();
}

impl EvalOp for VectorProduct {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let input = args_1!(inputs);
    let x = input.try_as_plain_ram()?.as_slice::<f32>()?;
    ensure!(
      x.len() == self.panels.rows(),
      "VectorProduct: {} values for {}",
      x.len(),
      self.panels.rows()
    );
    let mut output = Tensor::zero::<f32>(&self.output_shape)?;
    let parts = if self.parts > 1 && shares().runs_alone() { self.parts } else { 1 };
    self.compute(x, parts, output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
    Ok(tvec!(output.into_tvalue()))
  }
}

impl TypedOp for VectorProduct {
  fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    Ok(tvec!(f32::fact(&*self.output_shape)))
  }

  fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
    let fmas = self.panels.rows() * self.panels.columns();
    Ok(tvec!((Cost::FMA(f32::datum_type()), fmas.into())))
  }

  as_op!();
}

#[cfg(test)]
mod tests {
  use super::*;

  const K: usize = 300;
  const N: usize = 250; // 4 panels, the last one partial; 75,000 weights

  fn weight(r: usize, c: usize) -> f32 {
    ((r * 131 + c * 71) % 97) as f32 / 97.0 - 0.5
  }

  fn input() -> Vec<f32> {
    (0..K).map(|i| (i as f32 * 0.37).sin()).collect()
  }

  /// `x · W` in f64, the reference.
  fn reference(x: &[f32]) -> Vec<f64> {
    (0..N).map(|c| (0..K).map(|r| x[r] as f64 * weight(r, c) as f64).sum()).collect()
  }

  /// One form a batch-1 product takes after declutter.
  struct Form {
    expr: &'static str,
    vector_shape: &'static [usize],
    /// Weights stored `[N, K]` instead of `[K, N]`.
    transposed: bool,
    /// Weights in the first input.
    weights_first: bool,
    output_shape: &'static [usize],
  }

  const FORMS: [Form; 5] = [
    Form {
      expr: "mk,kn->mn",
      vector_shape: &[1, K],
      transposed: false,
      weights_first: false,
      output_shape: &[1, N],
    },
    Form {
      expr: "mk,nk->mn",
      vector_shape: &[1, K],
      transposed: true,
      weights_first: false,
      output_shape: &[1, N],
    },
    Form {
      expr: "mk,nk->n",
      vector_shape: &[1, K],
      transposed: true,
      weights_first: false,
      output_shape: &[N],
    },
    Form {
      expr: "k,nk->mn",
      vector_shape: &[K],
      transposed: true,
      weights_first: false,
      output_shape: &[1, N],
    },
    Form {
      expr: "kn,mk->nm",
      vector_shape: &[1, K],
      transposed: false,
      weights_first: true,
      output_shape: &[N, 1],
    },
  ];

  /// A model computing `form` with a vector input of `vector_shape`.
  fn product(form: &Form, vector_shape: &[usize]) -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(vector_shape)).unwrap();
    let weights = if form.transposed {
      tract_ndarray::Array2::from_shape_fn((N, K), |(c, r)| weight(r, c))
    } else {
      tract_ndarray::Array2::from_shape_fn((K, N), |(r, c)| weight(r, c))
    };
    let w = model.add_const("w", weights.into_tensor()).unwrap();
    let inputs = if form.weights_first { [w, x] } else { [x, w] };
    let einsum = EinSum::new(form.expr.parse().unwrap(), f32::datum_type());
    let y = model.wire_node("y", einsum, &inputs).unwrap();
    model.select_output_outlets(&y).unwrap();
    model
  }

  fn is_split(model: &TypedModel) -> bool {
    model.nodes().iter().any(|n| n.op_is::<VectorProduct>())
  }

  crate::cpu::test_each_tier! {
    fn batch_1_products_are_rewritten_and_match_a_plain_sum(tier: Tier) {
      let x = input();
      let expected = reference(&x);
      for form in &FORMS {
        let mut model = product(form, form.vector_shape);
        replace_vector_products(&mut model, tier, 2).unwrap();
        assert!(is_split(&model), "{}", form.expr);
        let plan = model.into_runnable().unwrap();
        let x = tract_ndarray::ArrayD::from_shape_vec(form.vector_shape, x.clone()).unwrap();
        let y = plan.run(tvec!(x.clone().into_tvalue())).unwrap();
        assert_eq!(y[0].shape(), form.output_shape, "{}", form.expr);
        let y = y[0].try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec();
        for (value, want) in y.iter().zip(&expected) {
          assert!((*value as f64 - want).abs() < 1e-4, "{}: {value} vs {want}", form.expr);
        }
      }
  }
  }

  crate::cpu::test_each_tier! {
    fn every_split_gives_the_same_columns(tier: Tier) {
      let x = input();
      let expected = reference(&x);
      let panels = Arc::new(ColumnPanels::pack(K, N, weight));
      let op = VectorProduct { tier, panels, parts: 4, output_shape: tvec!(N) };
      for parts in [1, 2, 3, 4, 8] {
        let mut y = vec![f32::NAN; N];
        op.compute(&x, parts, &mut y);
        for (value, want) in y.iter().zip(&expected) {
          assert!((*value as f64 - want).abs() < 1e-4, "{parts} parts: {value} vs {want}");
        }
      }
  }
  }

  /// A model multiplying a `[1, k]` input by `[k, n]` zero weights, after the rewrite for `parts`.
  fn rewritten(k: usize, n: usize, parts: usize) -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([1, k])).unwrap();
    let w = model.add_const("w", Tensor::zero::<f32>(&[k, n]).unwrap()).unwrap();
    let einsum = EinSum::new("mk,kn->mn".parse().unwrap(), f32::datum_type());
    let y = model.wire_node("y", einsum, &[x, w]).unwrap();
    model.select_output_outlets(&y).unwrap();
    replace_vector_products(&mut model, crate::cpu::tier(), parts).unwrap();
    model
  }

  fn parts(model: &TypedModel) -> Option<usize> {
    model.nodes().iter().find_map(|n| n.op_as::<VectorProduct>()).map(|op| op.parts)
  }

  #[test]
  fn small_weights_stay_on_the_calling_thread_and_other_products_with_tract() {
    assert_eq!(parts(&rewritten(K, N, 2)), Some(2));
    // Under 2^16 weights: packed, not split.
    assert_eq!(parts(&rewritten(512, 10, 2)), Some(1));
    // One thread: packed, on the calling thread.
    assert_eq!(parts(&rewritten(K, N, 1)), Some(1));
    // Padding a single column to a panel would take 64 times the weights.
    assert_eq!(parts(&rewritten(8192, 1, 2)), None);
    // Batch 2.
    let mut batch_2 = product(&FORMS[0], &[2, K]);
    replace_vector_products(&mut batch_2, crate::cpu::tier(), 2).unwrap();
    assert!(!is_split(&batch_2));
  }

  #[test]
  fn blocks_cover_every_panel_once() {
    assert_eq!(blocks(8, 2), [0..4, 4..8]);
    assert_eq!(blocks(4, 3), [0..1, 1..2, 2..4]);
    assert_eq!(blocks(2, 4), [0..1, 1..2]);
    assert_eq!(blocks(5, 1).len(), 1);
  }
}
