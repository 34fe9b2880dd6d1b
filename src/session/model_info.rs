//! What the ONNX proto declares about a model's inputs and outputs, and which operators it uses.
//!
//! Metadata comes from the proto rather than from tract's analysed graph so that symbolic dims keep
//! their names (as onnxruntime reports them) whatever tract later concludes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value as DimValue, type_proto};

use crate::error::{Result, TractNodeError};
use crate::tensor::DType;

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
  /// A fixed size.
  Fixed(usize),
  /// A symbolic size shared by every dim of that name (`batch`, `seq`); `?` names no dim in
  /// particular and binds nothing.
  Named(String),
  /// A size the model leaves open (no value, no name).
  Unknown,
}

impl fmt::Display for Dim {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      Dim::Fixed(n) => write!(f, "{n}"),
      Dim::Named(name) => f.write_str(name),
      Dim::Unknown => f.write_str("_"),
    }
  }
}

/// A declared input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueInfo {
  /// Name in the graph.
  pub name: String,
  /// Element type, when declared and representable in JS.
  pub dtype: Option<DType>,
  /// Declared dims, or `None` when the rank itself is unknown.
  pub dims: Option<Vec<Dim>>,
  /// For a `ZipMap` output: its class labels (integers as decimal text), the keys of each row's map.
  pub zip_map_labels: Option<Vec<String>>,
}

impl ValueInfo {
  fn from_proto(info: &pb::ValueInfoProto) -> ValueInfo {
    let tensor = info.r#type.as_ref().and_then(|t| t.value.as_ref()).map(|value| {
      let type_proto::Value::TensorType(tensor) = value;
      tensor
    });
    let dtype = tensor.and_then(|t| DType::from_onnx(t.elem_type));
    let dims = tensor.and_then(|t| t.shape.as_ref()).map(|shape| {
      shape
        .dim
        .iter()
        .map(|d| match &d.value {
          Some(DimValue::DimValue(v)) if *v >= 0 => Dim::Fixed(*v as usize),
          Some(DimValue::DimParam(p)) if !p.is_empty() => Dim::Named(p.clone()),
          _ => Dim::Unknown,
        })
        .collect()
    });
    ValueInfo { name: info.name.clone(), dtype, dims, zip_map_labels: None }
  }

  /// The declared shape as text, `[batch, 4]`.
  pub fn shape_text(&self) -> String {
    match &self.dims {
      None => "[any rank]".to_string(),
      Some(dims) => format!("[{}]", dims.iter().map(Dim::to_string).collect::<Vec<_>>().join(", ")),
    }
  }

  /// Whether every dim is fixed.
  pub fn is_concrete(&self) -> bool {
    self.dims.as_ref().is_some_and(|dims| dims.iter().all(|d| matches!(d, Dim::Fixed(_))))
  }

  /// Applies pinned shapes and symbolic-dim overrides.
  pub fn pinned(
    mut self,
    shape: Option<&Vec<usize>>,
    overrides: &HashMap<String, usize>,
  ) -> Result<Self> {
    if let Some(shape) = shape {
      if let Some(dims) = &self.dims {
        let compatible = dims.len() == shape.len()
          && dims.iter().zip(shape).all(|(d, s)| !matches!(d, Dim::Fixed(f) if f != s));
        if !compatible {
          return Err(TractNodeError::invalid_arg(
            format!("options.inputShapes.{}", self.name),
            format!("{shape:?} does not fit the declared shape {}", self.shape_text()),
          ));
        }
      }
      self.dims = Some(shape.iter().map(|&s| Dim::Fixed(s)).collect());
    } else if let Some(dims) = &mut self.dims {
      for dim in dims.iter_mut() {
        if let Dim::Named(name) = dim {
          if let Some(&value) = overrides.get(name.as_str()) {
            *dim = Dim::Fixed(value);
          }
        }
      }
    }
    Ok(self)
  }
}

/// The graph inputs that are not initializers, and the graph outputs.
pub fn declared_values(proto: &pb::ModelProto) -> Result<(Vec<ValueInfo>, Vec<ValueInfo>)> {
  let graph = proto
    .graph
    .as_ref()
    .ok_or_else(|| TractNodeError::InvalidModel { reason: "the model has no graph".to_string() })?;
  let initializers: BTreeSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
  let inputs = graph
    .input
    .iter()
    .filter(|i| !initializers.contains(i.name.as_str()))
    .map(ValueInfo::from_proto)
    .collect();
  let outputs = graph.output.iter().map(ValueInfo::from_proto).collect();
  Ok((inputs, outputs))
}

/// Refuses a top-level graph whose values are not each made exactly once: an output that no node,
/// input or initializer produces (tract panics on it), or a value two nodes both write.
pub fn check_producers(proto: &pb::ModelProto) -> Result<()> {
  let Some(graph) = proto.graph.as_ref() else { return Ok(()) };
  let mut produced: BTreeSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
  produced.extend(graph.initializer.iter().map(|t| t.name.as_str()));
  for node in &graph.node {
    for output in node.output.iter().filter(|o| !o.is_empty()) {
      if !produced.insert(output) {
        let reason = format!("value '{output}' is written twice (again by node '{}')", node.name);
        return Err(TractNodeError::InvalidModel { reason });
      }
    }
  }
  match graph.output.iter().find(|o| !produced.contains(o.name.as_str())) {
    Some(output) => Err(TractNodeError::InvalidModel {
      reason: format!("output '{}' is produced by no node, input or initializer", output.name),
    }),
    None => Ok(()),
  }
}

/// Outputs as tract-node computes them: a `ZipMap` output (declared as a sequence of maps) is its
/// `[N, classes]` float32 probability tensor, described as one, with its class labels (the JS API
/// turns it into one `{ label: probability }` object per row).
pub fn as_returned(outputs: Vec<ValueInfo>, proto: &pb::ModelProto) -> Vec<ValueInfo> {
  let mut zipmaps: HashMap<String, Vec<String>> = HashMap::new();
  for_each_node(proto, &mut |node| {
    if node.op_type == "ZipMap" {
      let labels = node
        .attribute
        .iter()
        .find(|a| a.name == "classlabels_strings" || a.name == "classlabels_int64s")
        .map_or_else(Vec::new, |a| {
          let strings = a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned());
          strings.chain(a.ints.iter().map(i64::to_string)).collect()
        });
      if let Some(output) = node.output.first() {
        zipmaps.insert(output.clone(), labels);
      }
    }
  });
  outputs
    .into_iter()
    .map(|info| match zipmaps.remove(&info.name) {
      Some(labels) => ValueInfo {
        dtype: Some(DType::Float32),
        dims: Some(vec![Dim::Unknown, Dim::Fixed(labels.len())]),
        zip_map_labels: Some(labels),
        ..info
      },
      None => info,
    })
    .collect()
}

/// Operators used anywhere in the model (subgraphs included) for which `known` says no, as
/// `domain.OpType`, sorted and deduplicated.
pub fn unsupported_ops(proto: &pb::ModelProto, known: impl Fn(&str) -> bool) -> Vec<String> {
  let mut missing = BTreeSet::new();
  for_each_node(proto, &mut |node| {
    if !known(&node.op_type) {
      missing.insert(qualified_op(node));
    }
  });
  missing.into_iter().collect()
}

/// An operator's name with its domain, unless that is the default one: `Conv`, `ai.onnx.ml.Scaler`.
fn qualified_op(node: &pb::NodeProto) -> String {
  match node.domain.as_str() {
    "" | "ai.onnx" => node.op_type.clone(),
    domain => format!("{domain}.{}", node.op_type),
  }
}

/// Calls `visit` on every node of the model, subgraphs (`If`, `Loop`, `Scan` bodies) included.
fn for_each_node(proto: &pb::ModelProto, visit: &mut impl FnMut(&pb::NodeProto)) {
  fn walk(graph: &pb::GraphProto, visit: &mut impl FnMut(&pb::NodeProto)) {
    for node in &graph.node {
      visit(node);
      for attribute in &node.attribute {
        attribute.g.iter().chain(&attribute.graphs).for_each(|g| walk(g, visit));
      }
    }
  }
  if let Some(graph) = &proto.graph {
    walk(graph, visit);
  }
}

/// How often a model uses one operator, and whether tract-node can run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorUse {
  /// `OpType`, prefixed by its domain unless that is the default one (`ai.onnx.ml.Scaler`).
  pub op: String,
  /// Nodes using it, subgraphs included.
  pub count: usize,
  /// Whether tract-node has an implementation.
  pub supported: bool,
}

/// What an ONNX file says about itself, read without building the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSummary {
  /// The ONNX IR version.
  pub ir_version: i64,
  /// The tool that wrote the file, with its version (`skl2onnx 1.20.0`), or `''`.
  pub producer: String,
  /// Operator sets imported, as (domain, version) sorted by domain; the default one is `ai.onnx`.
  pub opsets: Vec<(String, i64)>,
  /// Inputs (initializers excluded) and outputs, as declared.
  pub inputs: Vec<ValueInfo>,
  pub outputs: Vec<ValueInfo>,
  /// Operators used, by name.
  pub operators: Vec<OperatorUse>,
}

/// Who wrote a model and which operator sets it imports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
  /// The tool that wrote the file, with its version (`skl2onnx 1.20.0`), or `''`.
  pub producer: String,
  /// Operator sets imported, as (domain, version) sorted by domain; the default one is `ai.onnx`.
  pub opsets: Vec<(String, i64)>,
}

impl Provenance {
  pub fn of(proto: &pb::ModelProto) -> Provenance {
    let producer = format!("{} {}", proto.producer_name, proto.producer_version).trim().to_string();
    // Some exporters import the default domain twice, as "" and as "ai.onnx": keep one, the newest.
    let mut opsets: BTreeMap<String, i64> = BTreeMap::new();
    for import in &proto.opset_import {
      let domain = if import.domain.is_empty() { "ai.onnx" } else { import.domain.as_str() };
      let version = opsets.entry(domain.to_string()).or_insert(import.version);
      *version = (*version).max(import.version);
    }
    Provenance { producer, opsets: opsets.into_iter().collect() }
  }
}

/// Summarises a model; `known` says whether an operator type has an implementation.
pub fn summarize(proto: &pb::ModelProto, known: impl Fn(&str) -> bool) -> Result<ModelSummary> {
  let (inputs, outputs) = declared_values(proto)?;
  let mut counts: BTreeMap<String, OperatorUse> = BTreeMap::new();
  for_each_node(proto, &mut |node| {
    let op = qualified_op(node);
    let supported = known(&node.op_type);
    counts.entry(op.clone()).or_insert(OperatorUse { op, count: 0, supported }).count += 1;
  });
  let Provenance { producer, opsets } = Provenance::of(proto);
  Ok(ModelSummary {
    ir_version: proto.ir_version,
    producer,
    opsets,
    inputs,
    outputs,
    operators: counts.into_values().collect(),
  })
}

#[cfg(test)]
mod tests {
  use super::*;
  use pb::tensor_shape_proto::Dimension;

  fn value(name: &str, elem_type: i32, dims: Vec<Option<DimValue>>) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
      name: name.into(),
      r#type: Some(pb::TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
          elem_type,
          shape: Some(pb::TensorShapeProto {
            dim: dims.into_iter().map(|value| Dimension { value, ..Default::default() }).collect(),
          }),
        })),
        ..Default::default()
      }),
      ..Default::default()
    }
  }

  #[test]
  fn reads_symbolic_fixed_and_unknown_dims() {
    let proto = value(
      "x",
      1,
      vec![Some(DimValue::DimParam("batch".into())), Some(DimValue::DimValue(4)), None],
    );
    let info = ValueInfo::from_proto(&proto);
    assert_eq!(info.dtype, Some(DType::Float32));
    assert_eq!(info.dims, Some(vec![Dim::Named("batch".into()), Dim::Fixed(4), Dim::Unknown]));
    assert_eq!(info.shape_text(), "[batch, 4, _]");
    assert!(!info.is_concrete());
  }

  #[test]
  fn pins_apply_and_are_checked() {
    let info = ValueInfo::from_proto(&value(
      "x",
      1,
      vec![Some(DimValue::DimParam("batch".into())), Some(DimValue::DimValue(4))],
    ));
    let overrides = HashMap::from([("batch".to_string(), 8)]);
    let pinned = info.clone().pinned(None, &overrides).unwrap();
    assert_eq!(pinned.dims, Some(vec![Dim::Fixed(8), Dim::Fixed(4)]));
    assert!(info.clone().pinned(Some(&vec![2, 4]), &overrides).unwrap().is_concrete());
    let err = info.pinned(Some(&vec![2, 5]), &overrides).unwrap_err();
    assert_eq!(err.code().as_str(), "ERR_INVALID_ARG");
  }

  #[test]
  fn unsupported_ops_are_qualified_by_domain() {
    let node = |op: &str, domain: &str| pb::NodeProto {
      op_type: op.into(),
      domain: domain.into(),
      ..Default::default()
    };
    let proto = pb::ModelProto {
      graph: Some(pb::GraphProto {
        node: vec![node("Add", ""), node("Frobnicate", ""), node("ZipMap", "ai.onnx.ml")],
        ..Default::default()
      }),
      ..Default::default()
    };
    let missing = unsupported_ops(&proto, |op| op == "Add");
    assert_eq!(missing, vec!["Frobnicate".to_string(), "ai.onnx.ml.ZipMap".to_string()]);
  }
}
