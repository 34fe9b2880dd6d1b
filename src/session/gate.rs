//! Which nodes of a plan are split across the intra-op threads.
//!
//! A node is worth splitting when it does enough work to pay for handing part of it to a helper
//! thread (tens of microseconds in a VM): otherwise the calling thread would have finished alone
//! first. tract decides per matrix product from its panel count, which split a chain of small
//! convolutions (PP-OCR's direction classifier, batch 4) so finely that 2 threads were slower than
//! 1; gated by multiply-adds, 2 threads are at least as fast. The bound is lower while a run is the
//! only one in flight, its helpers polling, than while other runs keep the cores busy.
//!
//! tract's own gates stay in place for the nodes this one lets through, and nodes that report no
//! multiply-adds are left to them. Products of one row by constant weights do not go through
//! tract's split at all: they are `VectorProduct`s, split in shares (`crate::ops`); through
//! tract's split, splitting them did not pay.

use std::borrow::Cow;
use std::sync::Arc;

use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{EvalContext, OpState};
use tract_onnx::tract_core::ops::matmul::optimized::OptMatMul;
use tract_onnx::tract_core::ops::Cost;
use tract_onnx::tract_core::plan::eval as tract_eval;

use crate::cpu::clear_upper_vectors;
use crate::pool::intra_op::{keep_helpers_polling, runs_alone, scope};

/// Multiply-adds from which a node is split while its run is the only one: about 8 µs of one
/// core's work in a matrix product, worth it with the helpers polling (against 2²¹, BERT-mini
/// and PP-OCR recognition ran 15–20 % faster on 2 threads).
const MIN_SPLIT_FMAS_ALONE: u64 = 1 << 19;

/// Multiply-adds from which a node is split while other runs are in flight: the helpers are asleep
/// then (a futex wake-up each), and the cores have work anyway. About 30 µs of one core's work.
const MIN_SPLIT_FMAS_BUSY: u64 = 1 << 21;

/// The split decision for every node of one plan, for the intra-op thread count it runs with.
pub struct Gate {
  threads: usize,
  /// By node id: the multiply-adds of each matrix product the node runs, in the plan's symbols
  /// where it keeps dims open, with the count of products; `None` for a node that reports none.
  /// Empty for one thread, where there is nothing to decide.
  work: Vec<Option<(TDim, u64)>>,
  /// The nodes in the order they run.
  order: Vec<usize>,
  /// The decisions, when no size waits for the run's input shapes.
  known: Option<Decisions>,
}

/// What a run of the plan does with each node.
#[derive(Clone)]
pub struct Decisions {
  /// By node id: the multiply-adds of each matrix product it runs, `None` for a node that reports
  /// none or whose size is not known.
  work: Vec<Option<u64>>,
  /// By node id: whether a node to split comes within [`POLL_AHEAD`] nodes from this one, so that
  /// the helpers are polling by the time it runs.
  polls: Vec<bool>,
}

/// How many nodes ahead of a node to split the helpers are woken: a futex wake-up takes tens of µs
/// in a VM, as long as a small node runs (woken at the node itself, PP-OCR's direction classifier
/// gained nothing from a second thread).
const POLL_AHEAD: usize = 4;

/// How one node uses the intra-op threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Split {
  /// Too small to split: the calling thread runs it alone.
  Never,
  /// Big enough to split: the helpers are kept polling for it (`intra_op::keep_helpers_polling`).
  Always,
  /// No multiply-adds reported, or a size the inputs do not give: tract's own gates decide.
  TractDecides,
}

impl Gate {
  /// Prepares the decision for each node of `model` run with `threads` intra-op threads, from its
  /// facts; where sizes depend on the plan's symbols (a generic plan's batch or sequence length),
  /// each run decides from its input shapes. Nodes that report no multiply-adds are left to
  /// tract's gates.
  pub fn new(model: &TypedModel, threads: usize) -> Gate {
    let work: Vec<Option<(TDim, u64)>> = if threads > 1 {
      model.nodes().iter().map(|node| Some((symbolic_fmas(model, node)?, products(node)))).collect()
    } else {
      Vec::new()
    };
    let order = if work.is_empty() { Vec::new() } else { model.eval_order().unwrap_or_default() };
    let mut gate = Gate { threads, work, order, known: None };
    let symbolic = gate.work.iter().flatten().any(|(fmas, _)| fmas.to_i64().is_err());
    if !symbolic {
      gate.known = Some(gate.decide(&SymbolValues::default()));
    }
    gate
  }

  /// The decisions for a run whose inputs give the plan's symbols `values`.
  fn decide(&self, values: &SymbolValues) -> Decisions {
    let work: Vec<Option<u64>> = (self.work.iter())
      .map(|work| {
        let (fmas, products) = work.as_ref()?;
        let fmas = u64::try_from(fmas.eval(values).to_i64().ok()?).ok()?;
        (fmas > 0).then_some(fmas / products)
      })
      .collect();
    let mut polls = vec![false; work.len()];
    if !work.is_empty() {
      let split_at: Vec<bool> =
        self.order.iter().map(|&id| split(work[id], true) == Split::Always).collect();
      for (position, &id) in self.order.iter().enumerate() {
        polls[id] = split_at[position..].iter().take(POLL_AHEAD).any(|&split| split);
      }
    }
    Decisions { work, polls }
  }

  /// The decisions for a run of `model` (the model this gate was built from) on `inputs`.
  pub fn decisions(&self, model: &TypedModel, inputs: &[TValue]) -> Cow<'_, Decisions> {
    match &self.known {
      Some(decisions) => Cow::Borrowed(decisions),
      None => Cow::Owned(self.decide(&input_symbols(model, inputs))),
    }
  }

  /// Runs `plan` (the plan of the model this gate was built from).
  pub fn run(
    &self,
    plan: &Arc<TypedSimplePlan>,
    inputs: TVec<TValue>,
  ) -> TractResult<TVec<TValue>> {
    let decisions = self.decisions(plan.model(), &inputs);
    let mut state = TypedSimpleState::new(plan)?;
    let run = || state.run_plan_with_eval(inputs, |c, s, n, i| self.eval(&decisions, c, s, n, i));
    if self.threads <= 1 {
      return run();
    }
    scope(self.threads, || {
      if decisions.polls.contains(&true) {
        // Woken now, sleeping helpers are polling by the time the first big node comes.
        keep_helpers_polling(self.threads);
      }
      run()
    })
  }

  /// Evaluates one node of a run with `decisions`: on the calling thread alone when it is small,
  /// with the helpers polling when it is big. Then clears the vector registers' upper halves (see
  /// [`clear_upper_vectors`]).
  pub fn eval(
    &self,
    decisions: &Decisions,
    ctx: &EvalContext,
    op_state: Option<&mut (dyn OpState + 'static)>,
    node: &TypedNode,
    inputs: TVec<TValue>,
  ) -> TractResult<TVec<TValue>> {
    if decisions.polls.get(node.id) == Some(&true) {
      keep_helpers_polling(self.threads);
    }
    let work = decisions.work.get(node.id).copied().flatten();
    let outputs = match split(work, runs_alone()) {
      Split::Never => {
        multithread_tract_scope(Executor::SingleThread, || tract_eval(ctx, op_state, node, inputs))
      }
      Split::Always | Split::TractDecides => tract_eval(ctx, op_state, node, inputs),
    };
    clear_upper_vectors();
    outputs
  }
}

/// The values of a plan's symbols that `inputs` give: each input dim that is a symbol.
pub(crate) fn input_symbols(model: &TypedModel, inputs: &[TValue]) -> SymbolValues {
  let mut values = SymbolValues::default();
  for (ix, input) in inputs.iter().enumerate() {
    let Ok(fact) = model.input_fact(ix) else { continue };
    for (dim, &size) in fact.shape.iter().zip(input.shape()) {
      if let TDim::Sym(symbol) = dim {
        values.set(symbol, size as i64);
      }
    }
  }
  values
}

/// How a node doing `work` multiply-adds per matrix product (`None`: unknown) uses the intra-op
/// threads, when its run is `alone` or not.
fn split(work: Option<u64>, alone: bool) -> Split {
  let min = if alone { MIN_SPLIT_FMAS_ALONE } else { MIN_SPLIT_FMAS_BUSY };
  match work {
    Some(fmas) if fmas < min => Split::Never,
    Some(_) => Split::Always,
    None => Split::TractDecides,
  }
}

/// How many matrix products `node` runs one after the other: tract splits each on its own, so a
/// product looped over a batch of images is split image by image (gated by their total size, the
/// 1×1 convolutions of PP-OCR's direction classifier ran slower on 2 threads than on 1). One for
/// any other node.
fn products(node: &TypedNode) -> u64 {
  let Some(product) = node.op_as::<OptMatMul>() else { return 1 };
  let Some(shape) = product.c_fact.shape.as_concrete() else { return 1 };
  let matrix: usize =
    [product.c_m_axis, product.c_n_axis].iter().flatten().map(|&a| shape[a]).product();
  (shape.iter().product::<usize>() / matrix.max(1)).max(1) as u64
}

/// The multiply-adds `node` reports for its input facts: `None` when it reports none or they are
/// not concrete.
pub(crate) fn fmas(model: &TypedModel, node: &TypedNode) -> Option<u64> {
  symbolic_fmas(model, node)?.to_i64().ok()?.try_into().ok().filter(|&fmas: &u64| fmas > 0)
}

/// The multiply-adds `node` reports for its input facts, in the model's symbols: `None` when it
/// reports none.
fn symbolic_fmas(model: &TypedModel, node: &TypedNode) -> Option<TDim> {
  let facts = model.node_input_facts(node.id).ok()?;
  let mut total = TDim::Val(0);
  let mut reported = false;
  for (cost, count) in node.op.cost(&facts).ok()? {
    if let Cost::FMA(_) = cost {
      total += count;
      reported = true;
    }
  }
  reported.then_some(total)
}

#[cfg(test)]
mod tests {
  use super::*;
  use tract_onnx::tract_core::ops::einsum::EinSum;

  /// A model multiplying an input of `rows` × 784 (a symbol for `None`) by a constant 784 × 512
  /// matrix.
  fn product(rows: Option<usize>) -> TypedModel {
    let mut model = TypedModel::default();
    let rows = rows.map_or_else(|| model.symbols.sym("rows").to_dim(), |rows| rows.to_dim());
    let x = model.add_source("x", f32::fact(&[rows, 784.to_dim()])).unwrap();
    let w = model.add_const("w", Tensor::zero::<f32>(&[784, 512]).unwrap()).unwrap();
    let einsum = EinSum::new("mk,kn->mn".parse().unwrap(), f32::datum_type());
    let y = model.wire_node("y", einsum, &[x, w]).unwrap();
    model.select_output_outlets(&y).unwrap();
    model
  }

  /// How a 2-thread gate on `model` splits its product in a run whose inputs give `values`.
  fn product_split(model: &TypedModel, values: &SymbolValues, alone: bool) -> Split {
    let gate = Gate::new(model, 2);
    let y = model.node_by_name("y").unwrap().id;
    split(gate.decide(values).work[y], alone)
  }

  #[test]
  fn small_products_stay_on_one_thread_and_more_of_them_when_runs_are_in_flight() {
    // 1 × 784 × 512 = 401k multiply-adds; 2 × 784 × 512 = 803k; 64 × 784 × 512 = 25.7M.
    let [small, middle, big] = [1, 2, 64].map(|rows| product(Some(rows)));
    let none = SymbolValues::default();
    for alone in [true, false] {
      assert_eq!(product_split(&small, &none, alone), Split::Never);
      assert_eq!(product_split(&big, &none, alone), Split::Always);
      // Sources and constants report no multiply-adds: left to tract.
      assert_eq!(split(Gate::new(&big, 2).decide(&none).work[0], alone), Split::TractDecides);
    }
    assert_eq!(product_split(&middle, &none, true), Split::Always);
    assert_eq!(product_split(&middle, &none, false), Split::Never);
    // Known sizes are decided once; one thread has nothing to decide.
    assert!(Gate::new(&small, 2).known.is_some());
    assert!(Gate::new(&small, 1).work.is_empty());
  }

  #[test]
  fn symbolic_sizes_are_decided_from_each_run_s_inputs() {
    let model = product(None);
    let gate = Gate::new(&model, 2);
    assert!(gate.known.is_none());
    let rows = model.symbols.sym("rows");
    let x = |rows: usize| Tensor::zero::<f32>(&[rows, 784]).unwrap().into_tvalue();
    for (count, want) in [(1, Split::Never), (64, Split::Always)] {
      let values = input_symbols(&model, &[x(count)]);
      assert_eq!(values.get(&rows), Some(count as i64));
      assert_eq!(product_split(&model, &values, true), want, "{count} rows");
    }
    // A size the inputs do not give is left to tract.
    assert_eq!(product_split(&model, &SymbolValues::default(), true), Split::TractDecides);
  }
}
