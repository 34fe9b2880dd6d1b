//! Rewrites of the ONNX graph, before tract parses it, for constructs tract gets wrong.
//!
//! - `LSTM`, `GRU` and `RNN` with `direction = "reverse"`: tract ignores the attribute and runs them
//!   forward. Rewritten as the same node run forward over the time-reversed sequence, its `Y` reversed
//!   back (its final states are then the reverse direction's). Nodes with `sequence_lens` are left as
//!   they are (their reversal is per batch row). Upstream fix: tract-onnx's `CommonRec` should pick a
//!   negative scan chunk for `direction = "reverse"` as it does for the second half of
//!   `bidirectional`.
//! - `Pad` with a one-element `constant_value` tensor (onnxruntime takes it; the specification says
//!   scalar, and tract insists): reshaped to a scalar first.

use tract_onnx::pb::{tensor_proto, GraphProto, ModelProto, NodeProto, TensorProto};

/// Applies every rewrite to the model's graph (subgraphs included).
pub fn fix(model: &mut ModelProto) {
  if let Some(graph) = model.graph.as_mut() {
    fix_graph(graph);
  }
}

fn fix_graph(graph: &mut GraphProto) {
  for node in &mut graph.node {
    for attribute in &mut node.attribute {
      attribute.g.iter_mut().chain(attribute.graphs.iter_mut()).for_each(fix_graph);
    }
  }
  reverse_recurrences(graph);
  scalar_pad_values(graph);
}

fn is_reverse_recurrence(node: &NodeProto) -> bool {
  matches!(node.op_type.as_str(), "LSTM" | "GRU" | "RNN")
    && node.domain.is_empty()
    && string_attribute(node, "direction") == Some("reverse")
    && node.input.get(4).is_none_or(|lens| lens.is_empty())
}

fn string_attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a str> {
  node.attribute.iter().find(|a| a.name == name).and_then(|a| std::str::from_utf8(&a.s).ok())
}

fn int_attribute(node: &NodeProto, name: &str) -> Option<i64> {
  node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

fn reverse_recurrences(graph: &mut GraphProto) {
  let mut rewritten = Vec::with_capacity(graph.node.len());
  for (index, mut node) in std::mem::take(&mut graph.node).into_iter().enumerate() {
    if !is_reverse_recurrence(&node) {
      rewritten.push(node);
      continue;
    }
    // Time is axis 0 of X and Y, or axis 1 with layout = 1.
    let time_axis = int_attribute(&node, "layout").unwrap_or(0);
    let prefix = format!("tract_node_reverse_{index}");
    let params = format!("{prefix}_params");
    for (suffix, value) in [("starts", -1), ("ends", i64::MIN), ("axes", time_axis), ("steps", -1)]
    {
      graph.initializer.push(int64_scalar_list(&format!("{params}_{suffix}"), value));
    }
    let slice = |input: &str, output: &str| NodeProto {
      name: format!("{output}_slice"),
      op_type: "Slice".into(),
      input: ["", "_starts", "_ends", "_axes", "_steps"]
        .iter()
        .map(|s| if s.is_empty() { input.to_string() } else { format!("{params}{s}") })
        .collect(),
      output: vec![output.to_string()],
      ..Default::default()
    };
    let reversed_x = format!("{prefix}_x");
    rewritten.push(slice(&node.input[0], &reversed_x));
    node.input[0] = reversed_x;
    for attribute in &mut node.attribute {
      if attribute.name == "direction" {
        attribute.s = b"forward".to_vec();
      }
    }
    let y = node.output.first().filter(|y| !y.is_empty()).cloned();
    let forward_y = format!("{prefix}_y");
    if y.is_some() {
      node.output[0] = forward_y.clone();
    }
    rewritten.push(node);
    if let Some(y) = y {
      rewritten.push(slice(&forward_y, &y));
    }
  }
  graph.node = rewritten;
}

fn scalar_pad_values(graph: &mut GraphProto) {
  let scalar_shape = "tract_node_scalar_shape";
  let mut rewritten = Vec::with_capacity(graph.node.len());
  for (index, mut node) in std::mem::take(&mut graph.node).into_iter().enumerate() {
    let value = node.input.get(2).filter(|v| !v.is_empty()).cloned();
    if let (true, Some(value)) = (node.op_type == "Pad" && node.domain.is_empty(), value) {
      if !graph.initializer.iter().any(|i| i.name == scalar_shape) {
        graph.initializer.push(TensorProto {
          name: scalar_shape.into(),
          dims: vec![0],
          data_type: tensor_proto::DataType::Int64 as i32,
          ..Default::default()
        });
      }
      let scalar = format!("tract_node_pad_value_{index}");
      rewritten.push(NodeProto {
        name: format!("{scalar}_reshape"),
        op_type: "Reshape".into(),
        input: vec![value, scalar_shape.into()],
        output: vec![scalar.clone()],
        ..Default::default()
      });
      node.input[2] = scalar;
    }
    rewritten.push(node);
  }
  graph.node = rewritten;
}

fn int64_scalar_list(name: &str, value: i64) -> TensorProto {
  TensorProto {
    name: name.into(),
    dims: vec![1],
    data_type: tensor_proto::DataType::Int64 as i32,
    int64_data: vec![value],
    ..Default::default()
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use tract_onnx::pb::AttributeProto;

  fn lstm(direction: &str, inputs: &[&str]) -> NodeProto {
    NodeProto {
      op_type: "LSTM".into(),
      input: inputs.iter().map(|s| s.to_string()).collect(),
      output: vec!["Y".into(), "Y_h".into()],
      attribute: vec![AttributeProto {
        name: "direction".into(),
        s: direction.as_bytes().to_vec(),
        ..Default::default()
      }],
      ..Default::default()
    }
  }

  fn model(node: NodeProto) -> ModelProto {
    ModelProto {
      graph: Some(GraphProto { node: vec![node], ..Default::default() }),
      ..Default::default()
    }
  }

  #[test]
  fn reverse_recurrences_run_forward_over_reversed_time() {
    let mut m = model(lstm("reverse", &["X", "W", "R"]));
    fix(&mut m);
    let graph = m.graph.unwrap();
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Slice", "LSTM", "Slice"]);
    let (reverse_x, lstm, reverse_y) = (&graph.node[0], &graph.node[1], &graph.node[2]);
    assert_eq!(reverse_x.input[0], "X");
    assert_eq!(lstm.input[0], reverse_x.output[0]);
    assert_eq!(string_attribute(lstm, "direction"), Some("forward"));
    assert_eq!(
      (reverse_y.input[0].as_str(), reverse_y.output[0].as_str()),
      (lstm.output[0].as_str(), "Y")
    );
    assert_eq!(lstm.output[1], "Y_h", "final states need no reversal");
    let steps = graph.initializer.iter().find(|t| t.name.ends_with("_steps")).unwrap();
    assert_eq!(steps.int64_data, [-1]);
  }

  #[test]
  fn forward_bidirectional_and_length_limited_nodes_stay() {
    for node in [
      lstm("forward", &["X", "W", "R"]),
      lstm("bidirectional", &["X", "W", "R"]),
      lstm("reverse", &["X", "W", "R", "", "lens"]),
    ] {
      let mut m = model(node.clone());
      fix(&mut m);
      assert_eq!(m.graph.unwrap().node, vec![node]);
    }
  }
}
