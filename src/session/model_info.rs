//! What the ONNX proto declares about a model's inputs and outputs, and which operators it uses.
//!
//! Metadata comes from the proto rather than from tract's analysed graph so that symbolic dims keep
//! their names (as onnxruntime reports them) whatever tract later concludes.

use std::collections::{BTreeSet, HashMap};
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
    ValueInfo { name: info.name.clone(), dtype, dims }
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

/// Operators used anywhere in the model (subgraphs included) for which `known` says no, as
/// `domain.OpType`, sorted and deduplicated.
pub fn unsupported_ops(proto: &pb::ModelProto, known: impl Fn(&str) -> bool) -> Vec<String> {
  let mut missing = BTreeSet::new();
  if let Some(graph) = &proto.graph {
    collect_unsupported(graph, &known, &mut missing);
  }
  missing.into_iter().collect()
}

fn collect_unsupported(
  graph: &pb::GraphProto,
  known: &impl Fn(&str) -> bool,
  out: &mut BTreeSet<String>,
) {
  for node in &graph.node {
    if !known(&node.op_type) {
      let qualified = match node.domain.as_str() {
        "" | "ai.onnx" => node.op_type.clone(),
        domain => format!("{domain}.{}", node.op_type),
      };
      out.insert(qualified);
    }
    for attribute in &node.attribute {
      attribute.g.iter().chain(&attribute.graphs).for_each(|g| collect_unsupported(g, known, out));
    }
  }
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
