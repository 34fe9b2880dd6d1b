//! The inference session core: load a model, check feeds against it, run it. Pure Rust, no napi.

pub mod batch_split;
pub mod gate;
pub mod model_info;
pub mod options;
pub mod plan;
pub mod sizes;

#[cfg(feature = "binding")]
pub mod js;

use std::collections::HashMap;
use std::path::Path;

use tract_onnx::model::ParseResult;
use tract_onnx::prelude::*;

use crate::error::{error_chain, Result, TractNodeError};
use crate::stats::Stats;
use crate::tensor::{into_output, DType, OutputTensor};
use model_info::{
  as_returned, check_producers, declared_values, summarize, unsupported_ops, Dim, ModelSummary,
  Provenance, ValueInfo,
};
use options::SessionConfig;
use plan::{PlanOptions, Planner};
use sizes::SizeInputs;

/// Where a model comes from.
pub enum ModelSource<'a> {
  /// A file; external tensor data resolves relative to its folder.
  Path(&'a Path),
  /// The bytes of an ONNX file.
  Bytes(&'a [u8]),
}

/// A loaded model, ready to serve concurrent runs.
pub struct Session {
  inputs: Vec<ValueInfo>,
  outputs: Vec<ValueInfo>,
  provenance: Provenance,
  planner: Planner,
  stats: Stats,
}

/// Feeds checked and ordered as the model's inputs, and the outputs to return.
pub struct PreparedRun {
  inputs: TVec<TValue>,
  fetches: Vec<usize>,
}

impl PreparedRun {
  /// The checked inputs, in model order.
  pub fn inputs(&self) -> &[TValue] {
    &self.inputs
  }

  /// Rows of this run: the first dim of its first input (0 for a model without inputs or scalars).
  pub fn rows(&self) -> usize {
    self.inputs.first().and_then(|t| t.shape().first().copied()).unwrap_or(0)
  }

  /// What runs it batches with must share: each input's type and dims after the first.
  pub fn batch_key(&self) -> crate::batching::Key {
    self.inputs.iter().map(|t| (t.datum_type(), t.shape()[1..].into())).collect()
  }
}

/// Reads what a model file says about itself (producer, opsets, inputs, outputs, operators and
/// whether each is supported) without building it.
pub fn inspect(source: ModelSource<'_>) -> Result<ModelSummary> {
  let onnx = crate::ops::parser();
  let (proto, _) = read_proto(&onnx, source)?;
  summarize(&proto, |op| onnx.op_register.0.contains_key(op))
}

impl Session {
  /// Reads, analyses and optimises a model. Takes from milliseconds to seconds: call it off the JS
  /// thread. A model that makes tract panic (a malformed graph it does not check) is
  /// ERR_INVALID_MODEL.
  pub fn load(source: ModelSource<'_>, config: &SessionConfig) -> Result<Session> {
    crate::error::catch_panic(|| Session::load_checked(source, config)).map_err(|e| match e {
      TractNodeError::Internal { reason } => TractNodeError::InvalidModel { reason },
      other => other,
    })
  }

  fn load_checked(source: ModelSource<'_>, config: &SessionConfig) -> Result<Session> {
    let onnx = crate::ops::parser().with_ignore_value_info(true);
    let (mut proto, model_dir) = read_proto(&onnx, source)?;
    crate::ops::onnx::fixes::fix(&mut proto);
    let unsupported = unsupported_ops(&proto, |op| onnx.op_register.0.contains_key(op));
    if !unsupported.is_empty() {
      return Err(TractNodeError::UnsupportedOp { ops: unsupported });
    }
    check_producers(&proto)?;
    let (declared_inputs, outputs) = declared_values(&proto)?;
    let outputs = as_returned(outputs, &proto);
    if let Some(name) =
      config.input_shapes.keys().find(|n| !declared_inputs.iter().any(|i| &i.name == *n))
    {
      return Err(TractNodeError::invalid_arg(
        format!("options.inputShapes.{name}"),
        format!("the model has no input '{name}'"),
      ));
    }
    let inputs = declared_inputs
      .into_iter()
      .map(|info| {
        let pinned = config.input_shapes.get(&info.name);
        info.pinned(pinned, &config.dim_overrides)
      })
      .collect::<Result<Vec<_>>>()?;

    let ParseResult { model, unresolved_inputs, .. } =
      onnx.parse(&proto, model_dir.as_deref()).map_err(|e| TractNodeError::invalid_model(&e))?;
    if !unresolved_inputs.is_empty() {
      return Err(TractNodeError::InvalidModel {
        reason: format!("nodes read values nothing produces: {}", unresolved_inputs.join(", ")),
      });
    }
    if config.batching.is_some() {
      check_batchable(&inputs)?;
    }
    let model = pin_input_facts(model, &inputs, &config.dim_overrides)?;
    let open_dims = inputs.iter().any(|i| !i.is_concrete());
    let options = PlanOptions {
      threads: config.intra_op_threads,
      optimize: config.optimize,
      max_tensor_bytes: config.max_tensor_bytes,
    };
    let sizes = SizeInputs::find(&proto, &inputs);
    let planner = Planner::build(model, options, open_dims, sizes)?;
    let provenance = Provenance::of(&proto);
    Ok(Session { inputs, outputs, provenance, planner, stats: Stats::default() })
  }

  /// Who wrote the model and which operator sets it imports.
  pub fn provenance(&self) -> &Provenance {
    &self.provenance
  }

  /// The model's inputs (initializers excluded), with pinned dims applied.
  pub fn inputs(&self) -> &[ValueInfo] {
    &self.inputs
  }

  /// The model's outputs.
  pub fn outputs(&self) -> &[ValueInfo] {
    &self.outputs
  }

  /// The session's counters (updated by the JS-facing run path).
  pub fn stats(&self) -> &Stats {
    &self.stats
  }

  /// Whether runs use a plan per input shape (the model could not be optimised generically).
  pub fn uses_per_shape_plans(&self) -> bool {
    self.planner.is_per_shape()
  }

  /// Checks feeds against the model's inputs and resolves fetches (all outputs when `None`).
  /// Cheap: safe to call on the JS thread so that bad feeds reject before queueing.
  pub fn prepare(
    &self,
    feeds: Vec<(String, Tensor)>,
    fetches: Option<&[String]>,
  ) -> Result<PreparedRun> {
    let mut by_name: HashMap<String, Tensor> = HashMap::with_capacity(feeds.len());
    for (name, tensor) in feeds {
      if !self.inputs.iter().any(|i| i.name == name) {
        return Err(TractNodeError::InputUnknown {
          what: "input",
          name,
          known: names(&self.inputs),
        });
      }
      by_name.insert(name, tensor);
    }
    let mut bindings = HashMap::new();
    let mut inputs = TVec::with_capacity(self.inputs.len());
    for info in &self.inputs {
      let tensor = by_name
        .remove(&info.name)
        .ok_or_else(|| TractNodeError::InputMissing { name: info.name.clone() })?;
      check_feed(info, &tensor, &mut bindings)?;
      inputs.push(tensor.into_tvalue());
    }
    let fetches = match fetches {
      None => (0..self.outputs.len()).collect(),
      Some(wanted) => wanted
        .iter()
        .map(|name| {
          self.outputs.iter().position(|o| &o.name == name).ok_or_else(|| {
            TractNodeError::InputUnknown {
              what: "output",
              name: name.clone(),
              known: names(&self.outputs),
            }
          })
        })
        .collect::<Result<_>>()?,
    };
    Ok(PreparedRun { inputs, fetches })
  }

  /// Runs a prepared run. The heavy part: call it off the JS thread.
  pub fn execute(&self, run: PreparedRun) -> Result<Vec<(String, OutputTensor)>> {
    // Outputs are moved out (not cloned) so their storage goes to JS without a copy.
    let mut outputs: Vec<Option<TValue>> =
      self.planner.run(run.inputs)?.into_iter().map(Some).collect();
    self.select(&run.fetches, |ix| {
      Ok(outputs[ix].take().expect("each output is fetched once").into_tensor())
    })
  }

  /// Runs several prepared runs as one: inputs concatenated along dim 0, every fetched output
  /// split back along dim 0. All runs must agree on every other dim (the batcher groups them so).
  pub fn execute_batch(&self, runs: Vec<PreparedRun>) -> Result<Vec<Vec<(String, OutputTensor)>>> {
    if runs.len() == 1 {
      return runs.into_iter().map(|run| self.execute(run)).collect();
    }
    let internal = |e: TractError| TractNodeError::Internal { reason: error_chain(&e) };
    let inputs = (0..self.inputs.len())
      .map(|i| {
        let parts: Vec<&Tensor> = runs.iter().map(|r| &*r.inputs[i]).collect();
        Ok(Tensor::stack_tensors(0, &parts).map_err(internal)?.into_tvalue())
      })
      .collect::<Result<TVec<TValue>>>()?;
    let total: usize = runs.iter().map(PreparedRun::rows).sum();
    let outputs = self.planner.run(inputs)?;
    let mut start = 0;
    runs
      .iter()
      .map(|run| {
        let rows = run.rows();
        let selected = self.select(&run.fetches, |ix| {
          let output = &outputs[ix];
          if output.shape().first() != Some(&total) {
            return Err(TractNodeError::Internal {
              reason: format!(
                "output '{}' has shape {:?}, not one row per input row: this model cannot be batched",
                self.outputs[ix].name,
                output.shape()
              ),
            });
          }
          output.slice(0, start, start + rows).map_err(internal)
        });
        start += rows;
        selected
      })
      .collect()
  }

  /// The fetched outputs by name, each read once through `output`.
  fn select(
    &self,
    fetches: &[usize],
    mut output: impl FnMut(usize) -> Result<Tensor>,
  ) -> Result<Vec<(String, OutputTensor)>> {
    let mut seen = Vec::with_capacity(fetches.len());
    fetches
      .iter()
      .map(|&ix| {
        let name = &self.outputs[ix].name;
        if seen.contains(&ix) {
          return Err(TractNodeError::invalid_arg("fetches", format!("'{name}' is listed twice")));
        }
        seen.push(ix);
        Ok((name.clone(), into_output(name, output(ix)?)?))
      })
      .collect()
  }

  /// [`Session::prepare`] then [`Session::execute`].
  pub fn run(
    &self,
    feeds: Vec<(String, Tensor)>,
    fetches: Option<&[String]>,
  ) -> Result<Vec<(String, OutputTensor)>> {
    let prepared = self.prepare(feeds, fetches)?;
    self.execute(prepared)
  }
}

fn names(values: &[ValueInfo]) -> Vec<String> {
  values.iter().map(|v| v.name.clone()).collect()
}

fn read_proto(
  onnx: &tract_onnx::Onnx,
  source: ModelSource<'_>,
) -> Result<(tract_onnx::pb::ModelProto, Option<String>)> {
  let decode_error = |e: TractError| TractNodeError::invalid_model(&e);
  match source {
    ModelSource::Bytes(mut bytes) => {
      Ok((onnx.proto_model_for_read(&mut bytes).map_err(decode_error)?, None))
    }
    ModelSource::Path(path) => {
      let not_found = |e: std::io::Error| TractNodeError::ModelNotFound {
        path: path.display().to_string(),
        reason: e.to_string(),
      };
      if path.is_dir() {
        return Err(not_found(std::io::Error::other("it is a directory")));
      }
      let mut file = std::fs::File::open(path).map_err(not_found)?;
      let proto = onnx.proto_model_for_read(&mut file).map_err(decode_error)?;
      let dir = path.parent().map(|d| d.to_string_lossy().into_owned());
      Ok((proto, dir))
    }
  }
}

/// Batching stacks along dim 0: every input's first dim must be open or symbolic, and the same
/// symbol wherever it is named.
fn check_batchable(inputs: &[ValueInfo]) -> Result<()> {
  let first = |info: &ValueInfo| info.dims.as_ref().and_then(|d| d.first()).cloned();
  let mut name: Option<String> = None;
  for info in inputs {
    let fits = match first(info) {
      Some(Dim::Unknown) => true,
      Some(Dim::Named(n)) if n == "?" => true,
      Some(Dim::Named(n)) => name.get_or_insert_with(|| n.clone()) == &n,
      _ => false,
    };
    if !fits {
      return Err(TractNodeError::invalid_arg(
        "options.batching",
        format!(
          "batching needs every input to start with the same open or symbolic dim; input '{}' has shape {}",
          info.name,
          info.shape_text()
        ),
      ));
    }
  }
  Ok(())
}

/// Gives tract the concrete facts of fully pinned inputs and binds overridden symbolic dims.
fn pin_input_facts(
  mut model: InferenceModel,
  inputs: &[ValueInfo],
  overrides: &HashMap<String, usize>,
) -> Result<InferenceModel> {
  let invalid = |e: TractError| TractNodeError::invalid_model(&e);
  for (ix, info) in inputs.iter().enumerate() {
    let (Some(dtype), Some(dims)) = (info.dtype, &info.dims) else { continue };
    // Open dims get a symbol of their own, so tract can still build one plan for every shape.
    let shape: TVec<TDim> = dims
      .iter()
      .enumerate()
      .map(|(axis, dim)| match dim {
        Dim::Fixed(n) => TDim::from(*n as i64),
        Dim::Named(name) if name != "?" => model.symbols.sym(name).into(),
        _ => model.symbols.sym(&format!("unk__{ix}_{axis}")).into(),
      })
      .collect();
    model
      .set_input_fact(ix, InferenceFact::dt_shape(dtype.datum_type(), shape))
      .map_err(invalid)?;
  }
  if !overrides.is_empty() {
    let substitutions =
      overrides.iter().map(|(name, &v)| (model.symbols.sym(name), TDim::from(v as i64))).collect();
    model.set_symbols(&substitutions).map_err(invalid)?;
  }
  Ok(model)
}

/// Checks one feed's dtype and shape; `bindings` carries symbolic dim values across inputs.
fn check_feed(
  info: &ValueInfo,
  tensor: &Tensor,
  bindings: &mut HashMap<String, (usize, String)>,
) -> Result<()> {
  let actual_dtype = DType::for_output(tensor.datum_type());
  if let Some(expected) = info.dtype {
    if actual_dtype != Some(expected) {
      return Err(TractNodeError::InputType {
        name: info.name.clone(),
        expected: expected.name().to_string(),
        actual: actual_dtype.map_or("an unsupported type", DType::name).to_string(),
      });
    }
  }
  let Some(dims) = &info.dims else { return Ok(()) };
  let shape = tensor.shape();
  let mismatch = |detail: String| TractNodeError::InputShape {
    name: info.name.clone(),
    expected: format!("{}{detail}", info.shape_text()),
    actual: format!("{shape:?}"),
  };
  if dims.len() != shape.len() {
    return Err(mismatch(format!(" (rank {})", dims.len())));
  }
  for (dim, &size) in dims.iter().zip(shape) {
    match dim {
      Dim::Fixed(expected) if *expected != size => return Err(mismatch(String::new())),
      Dim::Named(symbol) if symbol != "?" => {
        let (bound, source) =
          bindings.entry(symbol.clone()).or_insert_with(|| (size, info.name.clone()));
        if *bound != size {
          return Err(mismatch(format!(" with {symbol} = {bound} as in input '{source}'")));
        }
      }
      _ => {}
    }
  }
  Ok(())
}

impl crate::batching::Target for Session {
  type Run = PreparedRun;
  type Output = Vec<(String, OutputTensor)>;

  fn stats(&self) -> &Stats {
    &self.stats
  }

  fn run_batch(&self, runs: Vec<PreparedRun>) -> Result<Vec<Self::Output>> {
    self.execute_batch(runs)
  }
}

#[cfg(test)]
mod tests;
