//! `TreeEnsembleClassifier` and `TreeEnsembleRegressor` (ai.onnx.ml) as tract operators backed by
//! [`Ensemble`]: parsed from the node's attributes, registered in place of tract's own (correct,
//! but 100–1000× slower than onnxruntime on real forests).

use std::collections::{HashMap, HashSet};

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::{tensor_proto::DataType, NodeProto, TensorProto};

use super::ensemble::{Aggregate, Ensemble, Mode, Node, Vote};
use super::predictor::{class_labels, Predict, Predictor};

/// The most regression targets a model may declare.
const MAX_TARGETS: i64 = 1_000_000;

/// Registers both operators.
pub fn register(registry: &mut OnnxOpRegister) {
  registry.insert("TreeEnsembleClassifier", classifier);
  registry.insert("TreeEnsembleRegressor", regressor);
}

fn classifier(
  _ctx: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let labels = class_labels(node, "classlabels_int64s")?;
  let ensemble = ensemble(node, "class", labels.len(), Aggregate::Sum)?;
  Predictor::parsed(TreeEnsemble { ensemble, labels: Some(labels) })
}

fn regressor(
  _ctx: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let targets: i64 = node.get_attr_opt("n_targets")?.unwrap_or(1);
  // Bounded: every row gets a score per target, and a hostile count must not exhaust memory.
  node.expect_attr(
    "n_targets",
    (1..=MAX_TARGETS).contains(&targets),
    "between 1 and 1,000,000 targets",
  )?;
  let aggregate = match node.get_attr_opt::<&str>("aggregate_function")?.unwrap_or("SUM") {
    "SUM" => Aggregate::Sum,
    "AVERAGE" => Aggregate::Average,
    "MIN" => Aggregate::Min,
    "MAX" => Aggregate::Max,
    other => bail!("aggregate_function {other:?} is not SUM, AVERAGE, MIN or MAX"),
  };
  let ensemble = ensemble(node, "target", targets as usize, aggregate)?;
  Predictor::parsed(TreeEnsemble { ensemble, labels: None })
}

/// A float list attribute, or its `<name>_as_tensor` double twin.
fn floats(node: &NodeProto, name: &str) -> TractResult<Option<Vec<f32>>> {
  if let Some(values) = node.get_attr_opt_slice::<f32>(name)? {
    return Ok(Some(values.to_vec()));
  }
  let Some(tensor) = node.get_attr_opt::<&TensorProto>(&format!("{name}_as_tensor"))? else {
    return Ok(None);
  };
  let values: Vec<f64> = if !tensor.double_data.is_empty() {
    tensor.double_data.clone()
  } else if tensor.data_type == DataType::Double as i32 {
    tensor.raw_data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect()
  } else if !tensor.float_data.is_empty() {
    tensor.float_data.iter().map(|&f| f as f64).collect()
  } else {
    tensor
      .raw_data
      .chunks_exact(4)
      .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
      .collect()
  };
  Ok(Some(values.into_iter().map(|v| v as f32).collect()))
}

fn ints(node: &NodeProto, name: &str, len: usize) -> TractResult<Vec<i64>> {
  let values = node.get_attr_opt_slice::<i64>(name)?.unwrap_or(&[]).to_vec();
  node.expect_attr(name, values.len() == len, || format!("{len} values, got {}", values.len()))?;
  Ok(values)
}

/// Reads the nodes and the `prefix`_ votes (`class` or `target`) into a flat ensemble.
fn ensemble(
  node: &NodeProto,
  prefix: &str,
  n_targets: usize,
  aggregate: Aggregate,
) -> TractResult<Ensemble> {
  let modes = node.get_attr_tvec::<&str>("nodes_modes")?;
  let n = modes.len();
  node.expect_attr("nodes_modes", n > 0, "at least one node")?;
  let tree_ids = ints(node, "nodes_treeids", n)?;
  let node_ids = ints(node, "nodes_nodeids", n)?;
  let features = ints(node, "nodes_featureids", n)?;
  let true_ids = ints(node, "nodes_truenodeids", n)?;
  let false_ids = ints(node, "nodes_falsenodeids", n)?;
  let thresholds = floats(node, "nodes_values")?.unwrap_or_else(|| vec![0.0; n]);
  node.expect_attr("nodes_values", thresholds.len() == n, "one value per node")?;
  let nan_true = node.get_attr_opt_slice::<i64>("nodes_missing_value_tracks_true")?.unwrap_or(&[]);
  node.expect_attr(
    "nodes_missing_value_tracks_true",
    nan_true.is_empty() || nan_true.len() == n,
    "one flag per node",
  )?;

  // Position of each (tree, node id) in the flat array, trees in order of first appearance.
  let mut index: HashMap<(i64, i64), u32> = HashMap::with_capacity(n);
  let mut roots = Vec::new();
  let mut seen_trees = HashSet::new();
  for i in 0..n {
    if index.insert((tree_ids[i], node_ids[i]), i as u32).is_some() {
      bail!("node {} of tree {} is defined twice", node_ids[i], tree_ids[i]);
    }
    if seen_trees.insert(tree_ids[i]) {
      roots.push((tree_ids[i], i as u32));
    }
  }
  // A tree's root is its node 0 when there is one, else its first node.
  let roots: Vec<u32> = roots
    .into_iter()
    .map(|(tree, first)| index.get(&(tree, 0)).copied().unwrap_or(first))
    .collect();

  // Votes grouped by leaf.
  let vote_prefix = |name: &str| format!("{prefix}_{name}");
  let vote_nodes = node.get_attr_opt_slice::<i64>(&vote_prefix("nodeids"))?.unwrap_or(&[]).to_vec();
  let votes_n = vote_nodes.len();
  let vote_trees = ints(node, &vote_prefix("treeids"), votes_n)?;
  let vote_targets = ints(node, &vote_prefix("ids"), votes_n)?;
  let weights = floats(node, &vote_prefix("weights"))?.unwrap_or_default();
  node.expect_attr(&vote_prefix("weights"), weights.len() == votes_n, "one weight per vote")?;
  let mut by_leaf: HashMap<u32, Vec<Vote>> = HashMap::new();
  for v in 0..votes_n {
    let Some(&at) = index.get(&(vote_trees[v], vote_nodes[v])) else {
      bail!("a vote names node {} of tree {}, which does not exist", vote_nodes[v], vote_trees[v]);
    };
    let target = vote_targets[v];
    node.expect_attr(&vote_prefix("ids"), (0..n_targets as i64).contains(&target), || {
      format!("target ids below {n_targets}, got {target}")
    })?;
    by_leaf.entry(at).or_default().push(Vote { target: target as u32, weight: weights[v] });
  }

  let mut nodes = Vec::with_capacity(n);
  let mut votes = Vec::with_capacity(votes_n);
  let mut n_features = 0;
  for i in 0..n {
    let mode =
      Mode::parse(modes[i]).with_context(|| format!("unknown node mode {:?}", modes[i]))?;
    if mode == Mode::Leaf {
      let start = votes.len() as u32;
      votes.extend(by_leaf.remove(&(i as u32)).unwrap_or_default());
      nodes.push(Node {
        feature: 0,
        threshold: 0.0,
        true_child: start,
        false_child: votes.len() as u32,
        mode,
        nan_true: false,
      });
      continue;
    }
    let child = |id: i64| {
      index.get(&(tree_ids[i], id)).copied().with_context(|| {
        format!("node {} of tree {} points to missing node {id}", node_ids[i], tree_ids[i])
      })
    };
    let feature = features[i];
    node.expect_attr("nodes_featureids", feature >= 0, "non-negative feature ids")?;
    n_features = n_features.max(feature as usize + 1);
    nodes.push(Node {
      feature: feature as u32,
      threshold: thresholds[i],
      true_child: child(true_ids[i])?,
      false_child: child(false_ids[i])?,
      mode,
      nan_true: nan_true.get(i).is_some_and(|&t| t != 0),
    });
  }
  check_acyclic(&nodes, &roots)?;
  let post_transform = super::post_transform(node)?;
  Ok(Ensemble {
    nodes,
    roots,
    votes,
    n_targets,
    n_features,
    aggregate,
    base_values: floats(node, "base_values")?.unwrap_or_default(),
    post_transform,
    traits: Default::default(),
  })
}

/// Refuses trees whose branches loop: a hostile model would otherwise never finish a run.
fn check_acyclic(nodes: &[Node], roots: &[u32]) -> TractResult<()> {
  const NEW: u8 = 0;
  const OPEN: u8 = 1;
  const DONE: u8 = 2;
  let mut state = vec![NEW; nodes.len()];
  for &root in roots {
    // Depth-first, with each node's children visited before it is closed.
    let mut stack = vec![(root, false)];
    while let Some((at, children_done)) = stack.pop() {
      let at_index = at as usize;
      if children_done {
        state[at_index] = DONE;
        continue;
      }
      match state[at_index] {
        DONE => continue,
        OPEN => bail!("the tree starting at node {root} loops back to node {at}"),
        _ => {}
      }
      let node = &nodes[at_index];
      if node.mode == Mode::Leaf {
        state[at_index] = DONE;
        continue;
      }
      state[at_index] = OPEN;
      stack.push((at, true));
      for child in [node.true_child, node.false_child] {
        if state[child as usize] == OPEN {
          bail!("the tree starting at node {root} loops back to node {child}");
        }
        if state[child as usize] == NEW {
          stack.push((child, false));
        }
      }
    }
  }
  Ok(())
}

/// A tree ensemble with, for a classifier, its class labels.
#[derive(Debug)]
struct TreeEnsemble {
  ensemble: Ensemble,
  /// Class labels for a classifier; `None` for a regressor.
  labels: Option<Tensor>,
}

impl Predict for TreeEnsemble {
  fn name(&self) -> &'static str {
    if self.labels.is_some() {
      "TreeEnsembleClassifier"
    } else {
      "TreeEnsembleRegressor"
    }
  }

  fn labels(&self) -> Option<&Tensor> {
    self.labels.as_ref()
  }

  fn columns(&self) -> usize {
    self.ensemble.n_targets
  }

  fn check_width(&self, width: usize) -> TractResult<()> {
    ensure!(
      width >= self.ensemble.n_features,
      "the trees read feature {} but rows have {width}",
      self.ensemble.n_features - 1
    );
    Ok(())
  }

  fn predict(&self, input: &[f32], width: usize) -> (Vec<usize>, Vec<f32>) {
    match self.labels {
      Some(_) => self.ensemble.classify(input, width),
      None => (Vec::new(), self.ensemble.regress(input, width)),
    }
  }
}
