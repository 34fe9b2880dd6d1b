//! `If` (ai.onnx), replacing tract's for two things real models need:
//!
//! - a condition known while the model is analysed (from shapes, or constants) selects its branch
//!   before the other is looked at: the untaken branch may not even type-check for these inputs
//!   (Silero VAD's decoder squeezes an axis that is 1 only in the branch it does not take);
//! - a condition known only at run time (a sample-rate input) runs the chosen branch through a plan
//!   optimised and built once, where tract's `IfThenElse` clones and plans the unoptimised branch on
//!   every run (20 times the run of a small model).
//!
//! A branch analysis that fails while the condition is still unknown is deferred: it fails the model
//! only if the condition stays unknown.

use std::sync::{Arc, OnceLock};

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParseResult, ParsingContext};
use tract_onnx::pb::NodeProto;

/// Registers `If` over tract's.
pub fn register(reg: &mut OnnxOpRegister) {
  reg.insert("If", parse_if);
}

fn parse_if(
  ctx: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let ParseResult { model: then_body, unresolved_inputs: then_inputs, .. } =
    ctx.parse_graph(node.get_attr("then_branch")?)?;
  let ParseResult { model: else_body, unresolved_inputs: else_inputs, .. } =
    ctx.parse_graph(node.get_attr("else_branch")?)?;
  // Outer inputs: the condition, then every outer value either branch reads, once each.
  let mut captured: Vec<String> = then_inputs.iter().chain(&else_inputs).cloned().collect();
  captured.sort();
  captured.dedup();
  let mapping = |names: &[String]| -> Vec<usize> {
    names
      .iter()
      .map(|name| 1 + captured.iter().position(|c| c == name).expect("captured name"))
      .collect()
  };
  let op = If {
    then_branch: Branch { body: then_body, input_mapping: mapping(&then_inputs) },
    else_branch: Branch { body: else_body, input_mapping: mapping(&else_inputs) },
  };
  Ok((Box::new(op), captured))
}

/// One branch of an `If` during analysis: its body and, per body input, the outer input it reads.
#[derive(Debug, Clone)]
struct Branch {
  body: InferenceModel,
  input_mapping: Vec<usize>,
}

/// The `If` of the ONNX graph, while tract analyses it.
#[derive(Debug, Clone)]
struct If {
  then_branch: Branch,
  else_branch: Branch,
}

impl PartialEq for If {
  fn eq(&self, _: &Self) -> bool {
    false
  }
}

impl Eq for If {}

impl Op for If {
  fn name(&self) -> StaticName {
    "If".into()
  }

  not_a_typed_op!();
}

impl EvalOp for If {
  not_out_of_plan!();
}

impl If {
  fn branch_mut(&mut self, condition: bool) -> &mut Branch {
    if condition {
      &mut self.then_branch
    } else {
      &mut self.else_branch
    }
  }
}

/// The condition's value, when analysis already knows it.
fn known_condition(fact: &InferenceFact) -> TractResult<Option<bool>> {
  fact.value.concretize().map(|value| value.cast_to_scalar::<bool>()).transpose()
}

impl InferenceOp for If {
  fn infer_facts(
    &mut self,
    inputs: TVec<&InferenceFact>,
    outputs: TVec<&InferenceFact>,
    observed: TVec<&InferenceFact>,
  ) -> TractResult<(TVec<InferenceFact>, TVec<InferenceFact>, TVec<InferenceFact>)> {
    let mut inputs: TVec<InferenceFact> = inputs.into_iter().cloned().collect();
    let mut outputs: TVec<InferenceFact> = outputs.into_iter().cloned().collect();
    inputs[0].datum_type.unify_with(&bool::datum_type().into())?;
    loop {
      let mut changed = false;
      let condition = known_condition(&inputs[0])?;
      let branches: Vec<bool> = match condition {
        Some(taken) => vec![taken],
        None => vec![true, false],
      };
      for &which in &branches {
        let branch = self.branch_mut(which);
        for (body_ix, &outer_ix) in branch.input_mapping.iter().enumerate() {
          changed |= branch.body.input_fact_mut(body_ix)?.unify_with_mut(&mut inputs[outer_ix])?;
        }
        for (ix, output) in outputs.iter_mut().enumerate() {
          let fact = branch.body.output_fact_mut(ix)?;
          if condition.is_some() {
            changed |= fact.unify_with_mut(output)?;
          } else {
            changed |= fact.shape.unify_with_mut(&mut output.shape)?;
            changed |= fact.datum_type.unify_with_mut(&mut output.datum_type)?;
          }
        }
        let analysed = branch.body.analyse(false);
        match (analysed, condition) {
          (Ok(progress), _) => changed |= progress,
          (Err(e), Some(_)) => return Err(e),
          (Err(_), None) => {} // deferred: the condition may still select the other branch
        }
      }
      if !changed {
        return Ok((inputs, outputs, observed.into_iter().cloned().collect()));
      }
    }
  }

  fn nboutputs(&self) -> TractResult<usize> {
    let (then_outputs, else_outputs) =
      (self.then_branch.body.outputs.len(), self.else_branch.body.outputs.len());
    ensure!(
      then_outputs == else_outputs,
      "If: then_branch has {then_outputs} outputs, else_branch {else_outputs}"
    );
    Ok(then_outputs)
  }

  fn to_typed(
    &self,
    source: &InferenceModel,
    node: &InferenceNode,
    target: &mut TypedModel,
    mapping: &HashMap<OutletId, OutletId>,
  ) -> TractResult<TVec<OutletId>> {
    let inputs: TVec<OutletId> = node.inputs.iter().map(|o| mapping[o]).collect();
    if let Some(taken) = known_condition(source.outlet_fact(node.inputs[0])?)? {
      let branch = if taken { &self.then_branch } else { &self.else_branch };
      return inline(
        &node.name,
        branch.body.clone().into_typed()?,
        &branch.input_mapping,
        &inputs,
        target,
      );
    }
    let then_body = self.then_branch.body.clone().into_typed();
    let else_body = self.else_branch.body.clone().into_typed();
    match (then_body, else_body) {
      (Ok(then_body), Ok(else_body)) => {
        let op = tract_core::ops::logic::IfThenElse {
          then_body,
          then_input_mapping: self.then_branch.input_mapping.clone(),
          else_body,
          else_input_mapping: self.else_branch.input_mapping.clone(),
        };
        target.wire_node(&node.name, op, &inputs)
      }
      (Err(e), Err(_)) => Err(e),
      // One branch cannot be typed for these inputs: an error only if a run takes it.
      (then_body, else_body) => {
        let op = PlannedIf {
          then_branch: PlannedBranch::new(
            then_body.map_err(|e| format!("{e:#}")),
            &self.then_branch.input_mapping,
          ),
          else_branch: PlannedBranch::new(
            else_body.map_err(|e| format!("{e:#}")),
            &self.else_branch.input_mapping,
          ),
        };
        target.wire_node(&node.name, op, &inputs)
      }
    }
  }

  as_op!();
}

/// Wires `body`'s nodes into `target` in place of the `If` named `name`; returns its outputs.
fn inline(
  name: &str,
  body: TypedModel,
  input_mapping: &[usize],
  inputs: &[OutletId],
  target: &mut TypedModel,
) -> TractResult<TVec<OutletId>> {
  let mut wired: HashMap<OutletId, OutletId> = HashMap::default();
  for (&outer_ix, &body_input) in input_mapping.iter().zip(body.input_outlets()?) {
    wired.insert(body_input, inputs[outer_ix]);
  }
  for id in body.eval_order()? {
    let inner = body.node(id);
    if inner.op_is::<tract_core::ops::source::TypedSource>() {
      continue;
    }
    let node_inputs: TVec<OutletId> = inner.inputs.iter().map(|o| wired[o]).collect();
    let outlets =
      target.wire_node(format!("{name}.{}", inner.name), inner.op.clone(), &node_inputs)?;
    for (slot, outlet) in outlets.into_iter().enumerate() {
      wired.insert(OutletId::new(id, slot), outlet);
    }
  }
  body.output_outlets()?.iter().map(|o| Ok(wired[o])).collect()
}

/// The typed `If` whose condition is only known at run time: each branch runs through a plan
/// optimised and built on its first use, then shared by every run (plans are `Send + Sync`).
#[derive(Debug, Clone)]
pub struct PlannedIf {
  then_branch: PlannedBranch,
  else_branch: PlannedBranch,
}

/// A branch of a `PlannedIf`: its body, or why it cannot be typed for these inputs.
#[derive(Debug, Clone)]
struct PlannedBranch {
  body: Result<TypedModel, String>,
  input_mapping: Vec<usize>,
  plan: Arc<OnceLock<Arc<TypedRunnableModel>>>,
}

impl PlannedBranch {
  fn new(body: Result<TypedModel, String>, input_mapping: &[usize]) -> PlannedBranch {
    PlannedBranch { body, input_mapping: input_mapping.to_vec(), plan: Arc::default() }
  }

  /// The branch's plan: its body prepared by `crate::ops::optimize` for the process's tier, with
  /// tract's codegen when it can (symbolic dims may stop it), built once.
  fn plan(&self) -> TractResult<Arc<TypedRunnableModel>> {
    if let Some(plan) = self.plan.get() {
      return Ok(plan.clone());
    }
    let body = self
      .body
      .as_ref()
      .map_err(|reason| format_err!("this branch cannot run on these input shapes: {reason}"))?;
    let tier = crate::cpu::tier();
    let body = crate::ops::optimize(body.clone(), true, 1, tier)
      .or_else(|_| crate::ops::optimize(body.clone(), false, 1, tier))?;
    let plan = body.into_runnable_with_options(&RunOptions::default())?;
    Ok(self.plan.get_or_init(|| plan).clone())
  }
}

impl PartialEq for PlannedIf {
  fn eq(&self, _: &Self) -> bool {
    false
  }
}

impl Eq for PlannedIf {}

impl Op for PlannedIf {
  fn name(&self) -> StaticName {
    "If".into()
  }

  op_as_typed_op!();
}

impl TypedOp for PlannedIf {
  fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    let body = self
      .then_branch
      .body
      .as_ref()
      .or(self.else_branch.body.as_ref())
      .map_err(|e| format_err!("{e}"))?;
    (0..body.outputs.len()).map(|ix| Ok(body.output_fact(ix)?.without_value())).collect()
  }

  as_op!();
}

impl EvalOp for PlannedIf {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let branch =
      if inputs[0].cast_to_scalar::<bool>()? { &self.then_branch } else { &self.else_branch };
    let branch_inputs: TVec<TValue> =
      branch.input_mapping.iter().map(|&ix| inputs[ix].clone()).collect();
    branch.plan()?.run(branch_inputs)
  }
}

/// Replaces every `IfThenElse` left in a decluttered model (its condition known only at run time)
/// with a `PlannedIf`. Call between declutter and optimisation.
pub fn plan_runtime_conditionals(model: &mut TypedModel) {
  for node in model.nodes_mut() {
    if let Some(ite) = node.op_as::<tract_core::ops::logic::IfThenElse>() {
      let planned = PlannedIf {
        then_branch: PlannedBranch::new(Ok(ite.then_body.clone()), &ite.then_input_mapping),
        else_branch: PlannedBranch::new(Ok(ite.else_body.clone()), &ite.else_input_mapping),
      };
      node.op = Box::new(planned);
    }
  }
}
