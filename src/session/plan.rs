//! Optimised tract plans: one generic plan per session, or — when a model's symbolic dims stop
//! tract from optimising it generically — one plan per concrete input shape, kept in a small LRU.
//! A model whose tensor sizes come from input values (`ConstantOfShape`, `Expand`, `Tile` or
//! `Reshape` fed a shape) gets one plan per shape and value of its small integer inputs: tract
//! types a graph only when such sizes are known.
//!
//! A generic plan serves every shape, but tract optimises better for known shapes (convolutions
//! gather their inputs in place instead of copying them, 20–25 % on a CNN with 2 threads). So a
//! session with symbolic input dims also builds, in the background, a plan specialised for each input
//! shape it keeps seeing (a few at most) and switches to it once built. With several intra-op
//! threads, batches of a model whose rows are independent run as one chunk per thread, on one-thread
//! plans built the same way for the chunks' shapes (`super::batch_split`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tract_onnx::prelude::*;

use super::batch_split::{chunk_rows, Splitting};
use super::gate::{input_symbols, Gate};
use super::sizes::SizeInputs;
use crate::error::{error_chain, human_bytes, Result, TractNodeError};
use crate::pool::intra_op::run_each_alone;

/// How many per-shape plans a session keeps.
const SHAPE_CACHE_CAPACITY: usize = 16;

/// How many times a generic-plan session must see an input shape before it specialises a plan for it.
pub(crate) const SPECIALISE_AFTER_RUNS: u32 = 3;

/// How many specialised plans a generic-plan session builds, at most (each holds its own packed
/// weights): the first shapes to become frequent keep theirs.
const MAX_SPECIALISED_PLANS: usize = 4;

/// How plans are built.
#[derive(Debug, Clone, Copy)]
pub struct PlanOptions {
  /// Threads one run may use for matrix products.
  pub threads: usize,
  /// Run tract's codegen optimisations (otherwise declutter only).
  pub optimize: bool,
  /// The largest tensor (in bytes) a run may allocate.
  pub max_tensor_bytes: u64,
}

/// An optimised plan with its memory guard.
struct Compiled {
  plan: Arc<TypedSimplePlan>,
  guard: MemoryGuard,
  gate: Gate,
}

type Plan = Arc<Compiled>;

/// The runnable form of a model.
pub struct Planner {
  options: PlanOptions,
  plans: Plans,
  /// Inputs whose values size tensors, checked before every run.
  sizes: SizeInputs,
  /// For a model whose batch rows are independent, run with several threads: batches run as one
  /// chunk per thread (see [`super::batch_split`]).
  split: Option<Arc<BatchSplit>>,
}

/// How batches are cut, and the one-thread plans for the chunks' shapes.
struct BatchSplit {
  model: InferenceModel,
  /// The analysis, once done: `None` inside for a model whose rows are not independent.
  splitting: OnceLock<Option<Splitting>>,
  analysing: AtomicBool,
  plans: Arc<Specialiser>,
}

enum Plans {
  /// One plan for every input shape, and plans specialised for frequent shapes when inputs have
  /// symbolic dims.
  Generic {
    plan: Plan,
    specialised: Option<Arc<Specialiser>>,
  },
  PerShape(Box<PerShape>),
}

/// One plan per concrete input shape — and per value of the inputs in `sizes` — built from the
/// analysed-on-demand model.
struct PerShape {
  model: InferenceModel,
  /// `(index, name)` of the inputs whose values the plans are built for.
  sizes: Vec<(usize, String)>,
  cache: Mutex<Lru<PlanKey, Plan>>,
}

/// What a per-shape plan is built for: the inputs' types and shapes, and the values of the inputs
/// that size tensors.
#[derive(Debug, PartialEq)]
struct PlanKey {
  shapes: ShapeKey,
  sizes: Vec<Tensor>,
}

impl Planner {
  /// Builds the generic plan, falling back to per-shape plans when the model has open dims and the
  /// generic plan cannot be built, or when tract needs the values of the `sizes` inputs to size
  /// tensors. Models with open dims run with several threads also get batch splitting, where their
  /// rows are independent.
  pub fn build(
    model: InferenceModel,
    options: PlanOptions,
    open_dims: bool,
    sizes: SizeInputs,
  ) -> Result<Planner> {
    let per_shape = |sizes| {
      Plans::PerShape(Box::new(PerShape { model: model.clone(), sizes, cache: Mutex::default() }))
    };
    let plans = match build_plan(model.clone(), options) {
      Ok(plan) => {
        let specialised = open_dims.then(|| Arc::new(Specialiser::new(model.clone(), options)));
        Plans::Generic { plan, specialised }
      }
      Err(err) if !sizes.is_empty() && error_chain(&err).contains("input is variable") => {
        per_shape(sizes.named())
      }
      Err(_) if open_dims => per_shape(Vec::new()),
      Err(err) => return Err(TractNodeError::invalid_model(&err)),
    };
    let split =
      (open_dims && options.threads > 1).then(|| Arc::new(BatchSplit::new(model, options)));
    Ok(Planner { options, plans, sizes, split })
  }

  /// Whether this planner builds a plan per input shape.
  pub fn is_per_shape(&self) -> bool {
    matches!(self.plans, Plans::PerShape(_))
  }

  /// How many plans specialised for frequent shapes are built (generic plans only).
  #[cfg(test)]
  pub fn specialised_plans(&self) -> usize {
    match &self.plans {
      Plans::Generic { specialised: Some(s), .. } => {
        s.state.lock().unwrap().plans.iter().filter(|(_, p)| p.is_some()).count()
      }
      _ => 0,
    }
  }

  /// How many one-thread plans for batch chunks are built (see [`Planner::run_split`]).
  #[cfg(test)]
  pub fn chunk_plans(&self) -> usize {
    let Some(split) = &self.split else { return 0 };
    split.plans.state.lock().unwrap().plans.iter().filter(|(_, p)| p.is_some()).count()
  }

  /// Runs the model on inputs already checked against its declared types and shapes.
  pub fn run(&self, inputs: TVec<TValue>) -> Result<TVec<TValue>> {
    self.sizes.check(&inputs, self.options.max_tensor_bytes)?;
    if let Some(outputs) = self.run_split(&inputs)? {
      return Ok(outputs);
    }
    let plan = match &self.plans {
      Plans::Generic { plan, specialised: None } => plan.clone(),
      Plans::Generic { plan, specialised: Some(specialiser) } => {
        Specialiser::plan_for(specialiser, &shape_key(&inputs)).unwrap_or_else(|| plan.clone())
      }
      Plans::PerShape(per_shape) => per_shape.plan_for(&inputs, self.options)?,
    };
    plan.guard.check(plan.plan.model(), &inputs)?;
    plan.gate.run(&plan.plan, inputs).map_err(|e| TractNodeError::run_failed(&e))
  }

  /// Runs `inputs` as one chunk per thread, when the model allows it and the chunks' plans are
  /// built (`None` otherwise: the run goes the usual way, and the plans get built meanwhile).
  fn run_split(&self, inputs: &[TValue]) -> Result<Option<TVec<TValue>>> {
    let Some(split) = &self.split else { return Ok(None) };
    let Some(Splitting { axes, min_chunk_rows }) = BatchSplit::splitting(split, inputs) else {
      return Ok(None);
    };
    let Some(batch) = axes.batch_size(inputs) else { return Ok(None) };
    let threads = self.options.threads.min(batch / min_chunk_rows);
    if threads < 2 {
      return Ok(None);
    }
    let mut chunks = Vec::new();
    for rows in chunk_rows(batch, threads) {
      let key = axes.chunk_shapes(inputs, &rows);
      let Some(plan) = Specialiser::plan_for(&split.plans, &key) else { return Ok(None) };
      chunks.push((plan, rows));
    }
    let mut tasks = Vec::new();
    for (plan, rows) in chunks {
      let chunk = axes.chunk(inputs, &rows).map_err(|e| TractNodeError::run_failed(&e))?;
      plan.guard.check(plan.plan.model(), &chunk)?;
      tasks.push((plan, chunk));
    }
    let outputs =
      run_each_alone(self.options.threads, tasks, |(plan, chunk)| plan.gate.run(&plan.plan, chunk));
    let joined = outputs.into_iter().collect::<TractResult<Vec<_>>>().and_then(|o| axes.join(o));
    joined.map(Some).map_err(|e| TractNodeError::run_failed(&e))
  }
}

impl PerShape {
  /// The plan for these inputs' shapes and size values, built on first use.
  fn plan_for(&self, inputs: &[TValue], options: PlanOptions) -> Result<Plan> {
    let PerShape { model, sizes, cache } = self;
    let values = sizes.iter().map(|&(ix, _)| inputs[ix].clone().into_tensor()).collect();
    let key = PlanKey { shapes: shape_key(inputs), sizes: values };
    if let Some(plan) = cache.lock().expect("plan cache lock").get(&key) {
      return Ok(plan);
    }
    let unsupported = |reason: String| {
      let shapes = key.shapes.iter().map(|(_, shape)| shape).collect::<Vec<_>>();
      let values =
        sizes.iter().zip(&key.sizes).map(|((_, name), value)| format!("{name} = {value:?}"));
      let values = values.collect::<Vec<_>>();
      let shapes = if values.is_empty() {
        format!("{shapes:?}")
      } else {
        format!("{shapes:?} with {}", values.join(", "))
      };
      TractNodeError::ShapesUnsupported { shapes, reason }
    };
    let build = || {
      let model = with_inputs(model, &key.shapes, sizes, &key.sizes)
        .map_err(|e| unsupported(error_chain(&e)))?;
      build_plan(model, options).map_err(|e| unsupported(error_chain(&e)))
    };
    // tract asserts (panics) on some impossible sizes, such as a negative dim.
    let plan = crate::error::catch_panic(build).map_err(|e| match e {
      TractNodeError::Internal { reason } => unsupported(reason),
      other => other,
    })?;
    cache.lock().expect("plan cache lock").insert(key, plan.clone());
    Ok(plan)
  }
}

impl BatchSplit {
  fn new(model: InferenceModel, options: PlanOptions) -> BatchSplit {
    let one_thread = PlanOptions { threads: 1, ..options };
    BatchSplit {
      plans: Arc::new(Specialiser::new(model.clone(), one_thread)),
      model,
      splitting: OnceLock::new(),
      analysing: AtomicBool::new(false),
    }
  }

  /// How to split, once analysed. The first run with a batch (its first input's first dim over 1)
  /// starts the analysis from its shapes on a background thread.
  fn splitting<'a>(this: &'a Arc<BatchSplit>, inputs: &[TValue]) -> Option<&'a Splitting> {
    if let Some(splitting) = this.splitting.get() {
      return splitting.as_ref();
    }
    let batched =
      inputs.first().and_then(|input| input.shape().first()).is_some_and(|&rows| rows > 1);
    if batched && !this.analysing.swap(true, Ordering::AcqRel) {
      let (split, key) = (this.clone(), shape_key(inputs));
      let spawned =
        std::thread::Builder::new().name("tract-node-analyse".into()).spawn(move || {
          crate::pool::lower_priority();
          let analyse = || Ok(split.analyse(&key));
          let _ = split.splitting.set(crate::error::catch_panic(analyse).ok().flatten());
        });
      if spawned.is_err() {
        let _ = this.splitting.set(None);
      }
    }
    None
  }

  /// How to split the model, typed and decluttered for `key`.
  fn analyse(&self, key: &ShapeKey) -> Option<Splitting> {
    let model =
      with_inputs(&self.model, key, &[], &[]).ok()?.into_typed().ok()?.into_decluttered().ok()?;
    Splitting::of(&model, *key.first()?.1.first()?)
  }
}

/// The input types and shapes of a run: the key of per-shape plans.
type ShapeKey = Vec<(DatumType, TVec<usize>)>;

fn shape_key(inputs: &[TValue]) -> ShapeKey {
  inputs.iter().map(|t| (t.datum_type(), t.shape().into())).collect()
}

/// `model` with its input facts set to the key's types and shapes, and the inputs of `sizes` to
/// their `values`.
fn with_inputs(
  model: &InferenceModel,
  key: &ShapeKey,
  sizes: &[(usize, String)],
  values: &[Tensor],
) -> TractResult<InferenceModel> {
  let mut model = model.clone();
  for (ix, (datum_type, shape)) in key.iter().enumerate() {
    model.set_input_fact(ix, InferenceFact::dt_shape(*datum_type, shape))?;
  }
  for (&(ix, _), value) in sizes.iter().zip(values) {
    model.set_input_fact(ix, InferenceFact::from(value.clone()))?;
  }
  Ok(model)
}

/// Builds plans specialised for the shapes a generic-plan session keeps seeing, one at a time on a
/// background thread, so no run waits for one.
struct Specialiser {
  model: InferenceModel,
  options: PlanOptions,
  state: Mutex<SpecialiserState>,
}

#[derive(Default)]
struct SpecialiserState {
  /// Runs seen per shape not yet specialised (cleared when it grows past 64 shapes).
  seen: HashMap<ShapeKey, u32>,
  /// Built plans, and shapes whose specialisation failed (None: they keep the generic plan).
  plans: Vec<(ShapeKey, Option<Plan>)>,
  building: bool,
}

impl Specialiser {
  fn new(model: InferenceModel, options: PlanOptions) -> Specialiser {
    Specialiser { model, options, state: Mutex::default() }
  }

  /// The plan specialised for `key` if built; otherwise counts the run, and starts building one when
  /// the shape has become frequent.
  fn plan_for(this: &Arc<Specialiser>, key: &ShapeKey) -> Option<Plan> {
    let mut state = this.state.lock().expect("specialiser lock");
    if let Some((_, plan)) = state.plans.iter().find(|(k, _)| k == key) {
      return plan.clone();
    }
    if state.building || state.plans.len() >= MAX_SPECIALISED_PLANS {
      return None;
    }
    if state.seen.len() > 64 {
      state.seen.clear();
    }
    let runs = state.seen.entry(key.clone()).or_default();
    *runs += 1;
    if *runs >= SPECIALISE_AFTER_RUNS {
      state.seen.remove(key);
      state.building = true;
      let (specialiser, key) = (this.clone(), key.clone());
      let spawned =
        std::thread::Builder::new().name("tract-node-specialise".into()).spawn(move || {
          crate::pool::lower_priority();
          specialiser.build(key)
        });
      state.building = spawned.is_ok();
    }
    None
  }

  fn build(&self, key: ShapeKey) {
    // A failure (or a panic inside tract) leaves this shape on the generic plan.
    let specialised = || self.specialise(&key).map_err(|e| TractNodeError::invalid_model(&e));
    let plan = crate::error::catch_panic(specialised).ok();
    let mut state = self.state.lock().expect("specialiser lock");
    state.plans.push((key, plan));
    state.building = false;
  }

  fn specialise(&self, key: &ShapeKey) -> TractResult<Plan> {
    build_plan(with_inputs(&self.model, key, &[], &[])?, self.options)
  }
}

fn build_plan(model: InferenceModel, options: PlanOptions) -> TractResult<Plan> {
  let typed = crate::ops::optimize(
    model.into_typed()?,
    options.optimize,
    options.threads,
    crate::cpu::tier(),
  )?;
  let plan = typed.into_runnable()?;
  let guard = MemoryGuard::new(plan.model(), options.max_tensor_bytes);
  let gate = Gate::new(plan.model(), options.threads);
  Ok(Arc::new(Compiled { plan, guard, gate }))
}

/// Refuses a run whose plan would allocate a tensor larger than `limit` bytes, before allocating.
///
/// Built once per plan: tensors of fixed size are checked then, and only those whose dims involve
/// symbols are evaluated per run, from the input shapes. Tensors whose size depends on input values
/// cannot be known in advance and are left to tract.
struct MemoryGuard {
  limit: u64,
  /// The largest fixed-size tensor, when over the limit.
  oversized: Option<(String, u64)>,
  /// Outputs with symbolic dims: node name, element size, dims.
  symbolic: Vec<(String, u64, TVec<TDim>)>,
}

impl MemoryGuard {
  fn new(model: &TypedModel, limit: u64) -> MemoryGuard {
    let mut guard = MemoryGuard { limit, oversized: None, symbolic: Vec::new() };
    for node in model.nodes() {
      for output in &node.outputs {
        let fact = &output.fact;
        let size = fact.datum_type.size_of() as u64;
        match fact.shape.as_concrete() {
          Some(dims) => {
            let bytes = dims.iter().fold(size, |acc, &d| acc.saturating_mul(d as u64));
            if bytes > limit && guard.oversized.as_ref().is_none_or(|(_, b)| bytes > *b) {
              guard.oversized = Some((node.name.clone(), bytes));
            }
          }
          None => {
            guard.symbolic.push((node.name.clone(), size, fact.shape.iter().cloned().collect()))
          }
        }
      }
    }
    guard
  }

  fn check(&self, model: &TypedModel, inputs: &[TValue]) -> Result<()> {
    if let Some((node, bytes)) = &self.oversized {
      return Err(self.refuse(node, *bytes));
    }
    if self.symbolic.is_empty() {
      return Ok(());
    }
    let values = input_symbols(model, inputs);
    for (node, size, dims) in &self.symbolic {
      let bytes = dims.iter().try_fold(*size, |acc, dim| match dim.eval(&values).to_i64() {
        Ok(d) if d >= 0 => Some(acc.saturating_mul(d as u64)),
        _ => None,
      });
      if let Some(bytes) = bytes.filter(|&b| b > self.limit) {
        return Err(self.refuse(node, bytes));
      }
    }
    Ok(())
  }

  fn refuse(&self, node: &str, bytes: u64) -> TractNodeError {
    TractNodeError::Resource {
      reason: format!(
        "node '{node}' would allocate {} for these input shapes, over the limit of {}",
        human_bytes(bytes),
        human_bytes(self.limit)
      ),
    }
  }
}

/// A tiny least-recently-used map: a handful of entries, scanned linearly.
struct Lru<K, V> {
  entries: Vec<(K, V)>,
}

impl<K, V> Default for Lru<K, V> {
  fn default() -> Self {
    Lru { entries: Vec::new() }
  }
}

impl<K: PartialEq, V: Clone> Lru<K, V> {
  fn get(&mut self, key: &K) -> Option<V> {
    let ix = self.entries.iter().position(|(k, _)| k == key)?;
    let entry = self.entries.remove(ix);
    let value = entry.1.clone();
    self.entries.push(entry);
    Some(value)
  }

  fn insert(&mut self, key: K, value: V) {
    self.entries.retain(|(k, _)| k != &key);
    if self.entries.len() == SHAPE_CACHE_CAPACITY {
      self.entries.remove(0);
    }
    self.entries.push((key, value));
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn lru_evicts_the_least_recently_used() {
    let mut lru = Lru::default();
    for k in 0..SHAPE_CACHE_CAPACITY {
      lru.insert(k, k * 10);
    }
    assert_eq!(lru.get(&0), Some(0)); // 0 becomes the most recent
    lru.insert(99, 990); // evicts 1
    assert_eq!(lru.get(&1), None);
    assert_eq!(lru.get(&0), Some(0));
    assert_eq!(lru.get(&99), Some(990));
    assert_eq!(lru.entries.len(), SHAPE_CACHE_CAPACITY);
  }
}
