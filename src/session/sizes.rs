//! Inputs whose values size tensors — the shape of a `ConstantOfShape`, the repeats of a `Tile`,
//! the bounds of a `Range` — and the check of those values before tract allocates anything.
//!
//! A stranger who feeds `shape = [1e9, 1e9]` must get `ERR_RESOURCE`, not an allocation that takes
//! the machine's memory, and `shape = [-2, 3]` must get `ERR_INPUT_SHAPE`, not a tract assertion.

use tract_onnx::pb::{GraphProto, ModelProto};
use tract_onnx::prelude::*;

use super::model_info::{Dim, ValueInfo};
use crate::error::{human_bytes, Result, TractNodeError};
use crate::tensor::DType;

/// How a node reads an input's values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Use {
  /// As dims of a tensor it builds (`ConstantOfShape`, `Expand`, `Tile`, `Resize` sizes); each
  /// must be ≥ 0.
  Dims,
  /// As a `Reshape` target: -1 (inferred) and 0 (copied) are allowed too.
  Reshape,
  /// As one bound of a `Range` whose three bounds are the inputs in `bounds`.
  Range { bounds: [usize; 3] },
}

/// One input read as sizes.
#[derive(Debug, Clone, PartialEq)]
struct SizeInput {
  index: usize,
  name: String,
  used_as: Use,
}

/// The inputs of a model that size tensors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SizeInputs(Vec<SizeInput>);

impl SizeInputs {
  /// The small integer inputs (a scalar or a fixed vector of at most 16) that `proto`'s nodes read
  /// as sizes, directly or through a `Cast`.
  pub fn find(proto: &ModelProto, inputs: &[ValueInfo]) -> SizeInputs {
    let Some(graph) = proto.graph.as_ref() else { return SizeInputs::default() };
    let input_index = |name: &str| {
      let name = through_cast(graph, name);
      inputs.iter().position(|info| info.name == name && is_small_integer(info))
    };
    let mut found = Vec::new();
    for node in &graph.node {
      let operand = |slot: usize| node.input.get(slot).and_then(|name| input_index(name));
      let uses: Vec<(Option<usize>, Use)> = match node.op_type.as_str() {
        "ConstantOfShape" => vec![(operand(0), Use::Dims)],
        "Expand" | "Tile" => vec![(operand(1), Use::Dims)],
        "Resize" => vec![(operand(3), Use::Dims)],
        "Reshape" => vec![(operand(1), Use::Reshape)],
        "Range" => match [operand(0), operand(1), operand(2)] {
          [Some(start), Some(limit), Some(delta)] => {
            let used_as = Use::Range { bounds: [start, limit, delta] };
            vec![(Some(start), used_as), (Some(limit), used_as), (Some(delta), used_as)]
          }
          _ => Vec::new(),
        },
        _ => Vec::new(),
      };
      for (index, used_as) in uses {
        let Some(index) = index else { continue };
        if !found.iter().any(|s: &SizeInput| s.index == index && s.used_as == used_as) {
          found.push(SizeInput { index, name: inputs[index].name.clone(), used_as });
        }
      }
    }
    SizeInputs(found)
  }

  pub fn is_empty(&self) -> bool {
    self.0.is_empty()
  }

  /// `(index, name)` of the size inputs, each once, in model order.
  pub fn named(&self) -> Vec<(usize, String)> {
    let mut named: Vec<_> = self.0.iter().map(|s| (s.index, s.name.clone())).collect();
    named.sort_unstable();
    named.dedup();
    named
  }

  /// Refuses values that ask for tensors over `limit` bytes (`ERR_RESOURCE`, at four bytes an
  /// element) or that no tensor can have (`ERR_INPUT_SHAPE`), before any plan runs.
  pub fn check(&self, inputs: &[TValue], limit: u64) -> Result<()> {
    for size in &self.0 {
      let values = |index: usize| integers(&inputs[index]);
      let Some(own) = values(size.index) else { continue };
      let elements = match size.used_as {
        Use::Dims => {
          if own.iter().any(|&n| n < 0) {
            return Err(impossible(&size.name, &own, "values ≥ 0"));
          }
          own.iter().fold(1u64, |elements, &n| elements.saturating_mul(n as u64))
        }
        Use::Reshape => {
          if own.iter().any(|&n| n < -1) {
            return Err(impossible(&size.name, &own, "values ≥ -1"));
          }
          product(own.iter().copied())
        }
        // Checked once, with the step.
        Use::Range { bounds } if size.index == bounds[2] => {
          let [start, end, delta] = bounds.map(|ix| values(ix).and_then(|v| v.first().copied()));
          let (Some(start), Some(end), Some(delta)) = (start, end, delta) else { continue };
          if delta == 0 {
            return Err(impossible(&size.name, &own, "a Range step other than 0"));
          }
          let span = (i128::from(end) - i128::from(start)) * i128::from(delta.signum());
          let span = span.max(0) as u128;
          u64::try_from(span.div_ceil(i128::from(delta).unsigned_abs())).unwrap_or(u64::MAX)
        }
        Use::Range { .. } => continue,
      };
      let bytes = elements.saturating_mul(4);
      if bytes > limit {
        let name_of = |ix| self.0.iter().find(|s| s.index == ix).map_or("", |s| &s.name[..]);
        let names = match size.used_as {
          Use::Range { bounds } => bounds.map(name_of).join("', '"),
          _ => size.name.clone(),
        };
        return Err(TractNodeError::Resource {
          reason: format!(
            "input '{names}' sizes tensors of {} for its values, over the limit of {}",
            human_bytes(bytes),
            human_bytes(limit)
          ),
        });
      }
    }
    Ok(())
  }
}

/// The name `name` is a `Cast` of, or `name` itself.
fn through_cast<'a>(graph: &'a GraphProto, name: &'a str) -> &'a str {
  graph
    .node
    .iter()
    .find(|node| node.op_type == "Cast" && node.output.iter().any(|o| o == name))
    .and_then(|cast| cast.input.first())
    .map_or(name, String::as_str)
}

fn is_small_integer(info: &ValueInfo) -> bool {
  let integer = matches!(info.dtype, Some(DType::Int64 | DType::Int32));
  let elements = info.dims.as_ref().and_then(|dims| {
    dims.iter().map(|d| if let Dim::Fixed(n) = d { Some(*n) } else { None }).product::<Option<_>>()
  });
  integer && elements.is_some_and(|n: usize| n <= 16)
}

/// The values of an integer tensor, widened.
fn integers(value: &TValue) -> Option<Vec<i64>> {
  let value = value.cast_to::<i64>().ok()?;
  let view = value.try_as_plain_ram().ok()?;
  view.as_slice::<i64>().ok().map(<[i64]>::to_vec)
}

/// At most the elements of a `Reshape` to these dims: its -1 and 0 count as 1 (their real value
/// comes from the input, whose size is checked already).
fn product(dims: impl Iterator<Item = i64>) -> u64 {
  dims.fold(1u64, |elements, n| elements.saturating_mul(n.unsigned_abs().max(1)))
}

/// `ERR_INPUT_SHAPE` for values no tensor size can be: "input 'shape': expected shape values ≥ 0,
/// got values [-2, 3]".
fn impossible(name: &str, values: &[i64], expected: &str) -> TractNodeError {
  TractNodeError::InputShape {
    name: name.to_string(),
    expected: expected.to_string(),
    actual: format!("values {values:?}"),
  }
}
