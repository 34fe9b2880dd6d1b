//! Where a model's run time goes, per operator and per node, with the plan tract-node builds
//! (tract-node's operators and rewrites, the input shapes pinned, optimised). Developer tool:
//!
//!   cargo run --release --target x86_64-unknown-linux-gnu --no-default-features --features profile --example profile -- \
//!     model.onnx 4x3x48x192 [runs=20] [threads=1]
//!
//! One shape per input, in order (`x`-separated dims, `-` for a scalar); inputs are filled with a
//! sine, or with the value after `=` (`-=16000` for a sample rate). With
//! `PROFILE_INFO=1`, each of the slowest nodes also prints tract's description of its operator (for
//! a matrix product: its shape and the kernel that runs it). With `PROFILE_GENERIC=1`, the plan keeps
//! the model's symbolic dims (the generic plan a session builds first). With `PROFILE_GRAPH=1`, the plan's
//! nodes are listed first, each with the nodes it reads and its output shape.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tract_hir::internal::*;

fn main() -> TractResult<()> {
  let args: Vec<String> = std::env::args().skip(1).collect();
  let [path, shapes, rest @ ..] = args.as_slice() else {
    bail!("usage: profile model.onnx DIMSxDIMS[=VALUE][,DIMS…] [runs] [threads]");
  };
  let runs: usize = rest.first().map_or(Ok(20), |r| r.parse())?;
  let threads: usize = rest.get(1).map_or(Ok(1), |t| t.parse())?;

  let mut proto = tract_node::ops::parser().proto_model_for_path(path)?;
  tract_node::ops::onnx::fixes::fix(&mut proto);
  let mut model =
    tract_node::ops::parser().with_ignore_value_info(true).model_for_proto_model(&proto)?;
  let mut inputs = tvec!();
  for (ix, spec) in shapes.split(',').enumerate() {
    let (shape, fill) = spec.split_once('=').map_or((spec, None), |(s, v)| (s, Some(v)));
    let dims: Vec<usize> = match shape {
      "-" => vec![],
      _ => shape.split('x').map(|d| d.parse()).collect::<Result<_, _>>()?,
    };
    let fill: Option<f32> = fill.map(|v| v.parse()).transpose()?;
    let fact = model.input_fact(ix)?.clone();
    let datum_type = fact.datum_type.concretize().unwrap_or(f32::datum_type());
    if std::env::var_os("PROFILE_GENERIC").is_none() {
      model.set_input_fact(ix, InferenceFact::dt_shape(datum_type, &dims))?;
    }
    let values: Vec<f32> =
      (0..dims.iter().product()).map(|i| fill.unwrap_or((i as f32 * 0.37).sin())).collect();
    inputs.push(
      tract_ndarray::Array::from_shape_vec(dims, values)?
        .into_tensor()
        .cast_to_dt(datum_type)?
        .into_owned()
        .into(),
    );
  }
  let tier = tract_node::cpu::tier();
  let typed = tract_node::ops::optimize(model.into_typed()?, true, threads, tier)?;
  if std::env::var_os("PROFILE_GRAPH").is_some() {
    for node in typed.eval_order()?.into_iter().map(|id| typed.node(id)) {
      let inputs: Vec<String> =
        node.inputs.iter().map(|i| format!("{}/{}", i.node, i.slot)).collect();
      let shape = typed.outlet_fact(OutletId::new(node.id, 0)).map(|f| format!("{:?}", f.shape));
      println!(
        "{:>5} {} ({}) <- {} : {}",
        node.id,
        node.name,
        node.op().name(),
        inputs.join(" "),
        shape.unwrap_or_default()
      );
    }
  }
  let plan = typed.into_runnable()?;
  // As a compute-pool thread does: this thread leads its matrix-product pool.
  tract_node::pool::intra_op::scope(threads, || profile(&plan, inputs, runs, threads, path, shapes))
}

fn profile(
  plan: &Arc<TypedSimplePlan>,
  inputs: TVec<TValue>,
  runs: usize,
  threads: usize,
  path: &str,
  shapes: &str,
) -> TractResult<()> {
  let gate = tract_node::session::gate::Gate::new(plan.model(), threads);
  let decisions = gate.decisions(plan.model(), &inputs);
  let mut state = SimpleState::new(plan)?;
  state.run(inputs.clone())?;

  let mut by_node: HashMap<usize, Duration> = HashMap::new();
  let start = Instant::now();
  for _ in 0..runs {
    state.run_plan_with_eval(inputs.clone(), |ctx, op_state, node, node_inputs| {
      let t = Instant::now();
      let result = gate.eval(&decisions, ctx, op_state, node, node_inputs);
      *by_node.entry(node.id).or_default() += t.elapsed();
      result
    })?;
  }
  let total = start.elapsed() / runs as u32;
  let model = plan.model();
  let mut by_op: HashMap<String, (Duration, usize)> = HashMap::new();
  for (&id, &time) in &by_node {
    let entry = by_op.entry(model.node(id).op().name().to_string()).or_default();
    entry.0 += time / runs as u32;
    entry.1 += 1;
  }
  let tier = tract_node::cpu::tier();
  let ms = total.as_secs_f64() * 1e3;
  println!("{path} {shapes}: {ms:.3} ms per run ({threads} thread(s), {tier} tier)");
  let mut ops: Vec<_> = by_op.into_iter().collect();
  ops.sort_by_key(|(_, (time, _))| std::cmp::Reverse(*time));
  for (op, (time, count)) in ops.iter().take(15) {
    let share = 100.0 * time.as_secs_f64() / total.as_secs_f64();
    println!("  {op:<24} {count:>4} nodes {:>9.3} ms {share:>5.1} %", time.as_secs_f64() * 1e3);
  }
  let mut nodes: Vec<_> = by_node.into_iter().collect();
  nodes.sort_by_key(|(_, time)| std::cmp::Reverse(*time));
  println!("slowest nodes:");
  for (id, time) in nodes.iter().take(40) {
    let node = model.node(*id);
    let facts: Vec<String> =
      node.inputs.iter().map(|i| format!("{:?}", model.outlet_fact(*i).unwrap().shape)).collect();
    println!(
      "  {:>8.3} ms  {} ({}) {}",
      time.as_secs_f64() * 1e3 / runs as f64,
      node.name,
      node.op().name(),
      facts.join(" ")
    );
    if std::env::var_os("PROFILE_INFO").is_some() {
      for line in node.op().info()? {
        println!("              {line}");
      }
    }
  }
  Ok(())
}
