//! A flat, cache-friendly evaluator for ONNX tree ensembles (`TreeEnsembleClassifier`,
//! `TreeEnsembleRegressor` of ai.onnx.ml), with onnxruntime's aggregation and post-transform rules,
//! so that scikit-learn / XGBoost / LightGBM exports give onnxruntime's numbers.
//!
//! Every tree's nodes live in one array with absolute child indices; leaf weights in another. Rows
//! are evaluated a block at a time, tree by tree, so a tree's nodes stay in cache across the block;
//! big jobs split their rows over the plan's intra-op threads.

use std::ops::Range;
use std::sync::OnceLock;

use crate::ops::kernels::split::{for_each_range, SharedOutput};

/// How a branch compares the feature with its threshold (`x <= t` … `x != t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
  Leq,
  Lt,
  Gte,
  Gt,
  Eq,
  Neq,
  Leaf,
}

impl Mode {
  /// The mode named by an ONNX `nodes_modes` entry.
  pub fn parse(name: &str) -> Option<Mode> {
    Some(match name {
      "BRANCH_LEQ" => Mode::Leq,
      "BRANCH_LT" => Mode::Lt,
      "BRANCH_GTE" => Mode::Gte,
      "BRANCH_GT" => Mode::Gt,
      "BRANCH_EQ" => Mode::Eq,
      "BRANCH_NEQ" => Mode::Neq,
      "LEAF" => Mode::Leaf,
      _ => return None,
    })
  }

  #[inline(always)]
  fn holds(self, x: f32, threshold: f32) -> bool {
    match self {
      Mode::Leq => x <= threshold,
      Mode::Lt => x < threshold,
      Mode::Gte => x >= threshold,
      Mode::Gt => x > threshold,
      Mode::Eq => x == threshold,
      Mode::Neq => x != threshold,
      Mode::Leaf => false,
    }
  }
}

/// How leaf values of the trees combine into one score per target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
  Sum,
  Average,
  Min,
  Max,
}

/// What is applied to the aggregated scores (shared by the ai.onnx.ml classifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTransform {
  None,
  Logistic,
  Softmax,
  SoftmaxZero,
  Probit,
}

impl PostTransform {
  /// The transform named by an ONNX `post_transform` attribute.
  pub fn parse(name: &str) -> Option<PostTransform> {
    Some(match name {
      "NONE" => PostTransform::None,
      "LOGISTIC" => PostTransform::Logistic,
      "SOFTMAX" => PostTransform::Softmax,
      "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
      "PROBIT" => PostTransform::Probit,
      _ => return None,
    })
  }
}

/// One node. A leaf has `mode == Leaf` and its votes in `leaves[true_child..false_child]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
  pub feature: u32,
  pub threshold: f32,
  pub true_child: u32,
  pub false_child: u32,
  pub mode: Mode,
  /// A missing (NaN) feature goes to the true child.
  pub nan_true: bool,
}

/// One vote of a leaf: `weight` for `target` (a class index, or a regression target).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vote {
  pub target: u32,
  pub weight: f32,
}

/// A tree ensemble ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Ensemble {
  pub nodes: Vec<Node>,
  pub roots: Vec<u32>,
  pub votes: Vec<Vote>,
  /// Classes (classifier) or targets (regressor).
  pub n_targets: usize,
  /// Features a row must have: one more than the largest feature index used.
  pub n_features: usize,
  pub aggregate: Aggregate,
  pub base_values: Vec<f32>,
  pub post_transform: PostTransform,
  /// Facts about the whole ensemble, found on first use rather than scanned on every run.
  pub traits: OnceLock<Traits>,
}

/// What evaluation needs to know about every node and vote of an ensemble.
#[derive(Debug, Clone, PartialEq)]
pub struct Traits {
  /// Every branch is `x <= threshold` with missing values going false (scikit-learn's exports):
  /// the walk then needs one comparison per step.
  plain_leq: bool,
  /// onnxruntime's rules for two-class ensembles.
  binary: BinaryRules,
}

/// Scores of one row before finalisation: a value and whether any tree voted, per target.
#[derive(Clone)]
struct Scores {
  value: Vec<f32>,
  voted: Vec<bool>,
}

impl Scores {
  fn new(n: usize) -> Scores {
    Scores { value: vec![0.0; n], voted: vec![false; n] }
  }

  fn reset(&mut self) {
    self.value.iter_mut().for_each(|v| *v = 0.0);
    self.voted.iter_mut().for_each(|v| *v = false);
  }
}

/// Bytes of input rows evaluated together, tree by tree: the block stays in the core's L2 cache
/// while every tree walks it, and the fewer blocks, the fewer times the trees' nodes are read.
const BLOCK_BYTES: usize = 64 << 10;
/// Fewest and most rows of a block.
const MIN_BLOCK_ROWS: usize = 64;
const MAX_BLOCK_ROWS: usize = 1024;
/// Rows walking a tree in lockstep.
const LANES: usize = 8;

impl Ensemble {
  /// One step down from the branch `node` for `row`.
  #[inline(always)]
  fn step(node: &Node, row: &[f32], plain_leq: bool) -> u32 {
    let x = row[node.feature as usize];
    let go_true = if plain_leq {
      x <= node.threshold
    } else {
      node.mode.holds(x, node.threshold) || (node.nan_true && x.is_nan())
    };
    if go_true {
      node.true_child
    } else {
      node.false_child
    }
  }

  /// The leaves that `LANES` rows reach in the tree rooted at `root`, walked in lockstep so that the
  /// rows' memory accesses overlap instead of waiting on each other.
  #[inline(always)]
  fn leaves<const LANES: usize>(
    &self,
    root: u32,
    rows: [&[f32]; LANES],
    plain_leq: bool,
  ) -> [u32; LANES] {
    let mut at = [root; LANES];
    loop {
      let mut moving = false;
      for lane in 0..LANES {
        let node = &self.nodes[at[lane] as usize];
        if node.mode != Mode::Leaf {
          at[lane] = Self::step(node, rows[lane], plain_leq);
          moving = true;
        }
      }
      if !moving {
        return at;
      }
    }
  }

  fn traits(&self) -> &Traits {
    self.traits.get_or_init(|| Traits {
      plain_leq: self
        .nodes
        .iter()
        .all(|n| n.mode == Mode::Leaf || (n.mode == Mode::Leq && !n.nan_true)),
      binary: BinaryRules::of(self),
    })
  }

  fn vote(&self, leaf: u32, scores: &mut Scores, single_target: bool) {
    let leaf = &self.nodes[leaf as usize];
    let votes = &self.votes[leaf.true_child as usize..leaf.false_child as usize];
    // onnxruntime's one-target aggregators read a leaf's first vote only.
    let votes = if single_target { &votes[..votes.len().min(1)] } else { votes };
    for vote in votes {
      let (value, voted) =
        (&mut scores.value[vote.target as usize], &mut scores.voted[vote.target as usize]);
      *value = match self.aggregate {
        Aggregate::Sum | Aggregate::Average => *value + vote.weight,
        Aggregate::Min if *voted => value.min(vote.weight),
        Aggregate::Max if *voted => value.max(vote.weight),
        Aggregate::Min | Aggregate::Max => vote.weight,
      };
      *voted = true;
    }
  }

  /// Raw aggregated scores of rows `rows` of `input` (`n × width`, row-major), handed to `finish`
  /// row by row with the row's index.
  fn each_row(
    &self,
    input: &[f32],
    width: usize,
    rows: Range<usize>,
    mut finish: impl FnMut(usize, &mut Scores),
  ) {
    let single_target = self.n_targets == 1;
    let plain_leq = self.traits().plain_leq;
    let block_rows =
      (BLOCK_BYTES / (width * size_of::<f32>()).max(1)).clamp(MIN_BLOCK_ROWS, MAX_BLOCK_ROWS);
    let mut block: Vec<Scores> =
      vec![Scores::new(self.n_targets); block_rows.min(rows.len().max(1))];
    for start in rows.clone().step_by(block_rows) {
      let end = (start + block_rows).min(rows.end);
      block.iter_mut().for_each(Scores::reset);
      let row = |r: usize| &input[r * width..(r + 1) * width];
      for &root in &self.roots {
        let mut r = start;
        while r + LANES <= end {
          let leaves =
            self.leaves::<LANES>(root, std::array::from_fn(|lane| row(r + lane)), plain_leq);
          for (lane, leaf) in leaves.into_iter().enumerate() {
            self.vote(leaf, &mut block[r + lane - start], single_target);
          }
          r += LANES;
        }
        for r in r..end {
          let [leaf] = self.leaves::<1>(root, [row(r)], plain_leq);
          self.vote(leaf, &mut block[r - start], single_target);
        }
      }
      for (r, scores) in (start..end).zip(block.iter_mut()) {
        finish(r, scores);
      }
    }
  }

  /// Runs `row_outputs` over the rows of `input`, split across the intra-op threads of the running
  /// plan (`intraOpNumThreads`) when the job is big enough, one run of rows per thread (each walks
  /// the trees once per block of its rows): `stride` output values per row.
  fn par_rows(
    &self,
    input: &[f32],
    width: usize,
    stride: usize,
    row_outputs: impl Fn(&mut Scores, &mut [f32]) + Sync,
  ) -> Vec<f32> {
    let rows = input.len().checked_div(width).unwrap_or(0);
    let mut out = vec![0.0; rows * stride];
    let shared = SharedOutput::new(&mut out);
    for_each_range(rows, rows * self.roots.len() * 16, |part| {
      // SAFETY: the parts of rows are disjoint, so are their outputs, within `out`.
      let chunk = unsafe {
        std::slice::from_raw_parts_mut(shared.at(part.start * stride), part.len() * stride)
      };
      self.each_row(input, width, part.clone(), |r, scores| {
        row_outputs(scores, &mut chunk[(r - part.start) * stride..][..stride])
      });
    });
    out
  }

  /// A regressor's outputs: `rows × n_targets` values.
  pub fn regress(&self, input: &[f32], width: usize) -> Vec<f32> {
    let trees = self.roots.len() as f32;
    self.par_rows(input, width, self.n_targets, |scores, out| {
      if self.n_targets == 1 {
        let origin = if self.base_values.len() == 1 { self.base_values[0] } else { 0.0 };
        let mut value = match self.aggregate {
          Aggregate::Average => scores.value[0] / trees,
          Aggregate::Min | Aggregate::Max if !scores.voted[0] => 0.0,
          _ => scores.value[0],
        };
        value += origin;
        out[0] = if self.post_transform == PostTransform::Probit { probit(value) } else { value };
        return;
      }
      let base =
        |t: usize| if self.base_values.len() == self.n_targets { self.base_values[t] } else { 0.0 };
      for (t, value) in out.iter_mut().enumerate() {
        let raw = if scores.voted[t] { scores.value[t] } else { 0.0 };
        *value = match self.aggregate {
          Aggregate::Average => raw / trees + base(t),
          _ => raw + base(t),
        };
      }
      transform(out, self.post_transform);
    })
  }

  /// A classifier's outputs: the winning class index per row, and `rows × n_targets` scores.
  pub fn classify(&self, input: &[f32], width: usize) -> (Vec<usize>, Vec<f32>) {
    let n = self.n_targets;
    let rules = &self.traits().binary;
    // Each row's scores, then its class index (exact in f32 below 2^24 classes).
    let out = self.par_rows(input, width, n + 1, |scores, out| {
      let (label, values) = self.finish_classes(scores, rules);
      out[..n].copy_from_slice(&values[..n]);
      out[n] = label as f32;
    });
    let labels = out.chunks_exact(n + 1).map(|row| row[n] as usize).collect();
    let scores = out.chunks_exact(n + 1).flat_map(|row| row[..n].iter().copied()).collect();
    (labels, scores)
  }

  /// onnxruntime's `TreeAggregatorClassifier::FinalizeScores` for two classes or more.
  fn finish_classes(&self, scores: &mut Scores, rules: &BinaryRules) -> (usize, Vec<f32>) {
    let n = self.n_targets;
    if n != 2 {
      for (k, &base) in self.base_values.iter().enumerate().take(n) {
        scores.value[k] += base;
        scores.voted[k] = true;
      }
      let winner = (0..n)
        .filter(|&k| scores.voted[k])
        .fold(None, |best: Option<usize>, k| match best {
          Some(b) if scores.value[b] >= scores.value[k] => Some(b),
          _ => Some(k),
        })
        .unwrap_or(0);
      let mut values = scores.value.clone();
      transform(&mut values, self.post_transform);
      return (winner, values);
    }
    let (mut s0, mut s1, voted1) = (scores.value[0], scores.value[1], scores.voted[1]);
    let mut second = Second::None;
    match self.base_values.len() {
      2 if voted1 => {
        s1 = self.base_values[1] + s0;
        s0 = -s1;
      }
      2 => {
        s1 += self.base_values[1];
        s0 += self.base_values[0];
      }
      1 => s0 += self.base_values[0],
      0 => second = Second::Negative,
      _ => {}
    }
    // Without a vote for class 1 (and unless both base values are given) there is one score.
    let single = !voted1 && self.base_values.len() != 2;
    let positive = if voted1 {
      s1
    } else if scores.voted[0] {
      s0
    } else {
      0.0
    };
    let label = rules.label(positive, &mut second);
    let mut values = if single { vec![s0] } else { vec![s0, s1] };
    if values.len() >= 2 {
      transform(&mut values, self.post_transform);
    } else {
      values = expand_binary(values[0], self.post_transform, second);
    }
    (label, values)
  }
}

/// How a lone binary score becomes two columns (onnxruntime's `add_second_class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Second {
  None,
  /// Weights all positive: `[1 - p, p]`.
  Complement,
  /// Mixed weights, positive class wins: `[-s, s]` (or logistic of both).
  Positive,
  /// Mixed weights, negative class wins.
  Negative,
}

/// The rules onnxruntime applies to two-class ensembles, decided once per model.
#[derive(Debug, Clone, PartialEq)]
struct BinaryRules {
  /// Two classes but every vote is for the same one.
  binary: bool,
  all_positive: bool,
}

impl BinaryRules {
  fn of(ensemble: &Ensemble) -> BinaryRules {
    let first = ensemble.votes.first().map(|v| v.target);
    let one_class = ensemble.votes.iter().all(|v| Some(v.target) == first);
    BinaryRules {
      binary: ensemble.n_targets == 2 && one_class,
      all_positive: ensemble.votes.iter().all(|v| v.weight >= 0.0),
    }
  }

  /// The class index for the positive score, and how the scores get their second column.
  fn label(&self, positive: f32, second: &mut Second) -> usize {
    if !self.binary {
      return usize::from(positive > 0.0);
    }
    let wins = if self.all_positive { positive > 0.5 } else { positive > 0.0 };
    *second = match (self.all_positive, wins) {
      (true, _) => Second::Complement,
      (false, true) => Second::Positive,
      (false, false) => Second::Negative,
    };
    usize::from(wins)
  }
}

/// One score into two columns, by `second`.
fn expand_binary(score: f32, post: PostTransform, second: Second) -> Vec<f32> {
  match (post, second) {
    (PostTransform::Probit, _) => vec![probit(score)],
    (_, Second::None) => vec![score],
    (_, Second::Complement) => vec![1.0 - score, score],
    (PostTransform::Logistic, _) => vec![logistic(-score), logistic(score)],
    (_, Second::Positive) => vec![-score, score],
    (_, Second::Negative) => vec![score, -score],
  }
}

/// The post-transform of two scores or more.
pub(crate) fn transform(values: &mut [f32], post: PostTransform) {
  match post {
    PostTransform::None => {}
    PostTransform::Logistic => values.iter_mut().for_each(|v| *v = logistic(*v)),
    PostTransform::Probit => values.iter_mut().for_each(|v| *v = probit(*v)),
    PostTransform::Softmax => softmax(values, false),
    PostTransform::SoftmaxZero => softmax(values, true),
  }
}

fn logistic(x: f32) -> f32 {
  let v = 1.0 / (1.0 + (-x.abs()).exp());
  if x < 0.0 {
    1.0 - v
  } else {
    v
  }
}

/// `√2 · erfinv(2x − 1)`, with the approximation onnxruntime uses.
pub(crate) fn probit(x: f32) -> f32 {
  let y = 2.0 * x - 1.0;
  let sign = if y < 0.0 { -1.0 } else { 1.0 };
  let ln = ((1.0 - y) * (1.0 + y)).ln();
  let a = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * ln;
  std::f32::consts::SQRT_2 * sign * (-a + (a * a - ln / 0.147).sqrt()).sqrt()
}

/// Softmax; with `skip_zeros`, zero scores stay (almost) zero (onnxruntime's SOFTMAX_ZERO).
fn softmax(values: &mut [f32], skip_zeros: bool) {
  let max = values.iter().copied().fold(f32::MIN, f32::max);
  let mut sum = 0.0;
  for v in values.iter_mut() {
    if skip_zeros && v.abs() <= 1e-7 {
      *v *= (-max).exp();
    } else {
      *v = (*v - max).exp();
      sum += *v;
    }
  }
  values.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
  use super::*;

  /// One stump per tree over feature 0: `x <= t` → leaf 1 else leaf 2.
  fn stumps(
    thresholds: &[f32],
    leaf_votes: &[(Vec<Vote>, Vec<Vote>)],
    n_targets: usize,
  ) -> Ensemble {
    let mut ensemble = Ensemble {
      nodes: vec![],
      roots: vec![],
      votes: vec![],
      n_targets,
      n_features: 1,
      aggregate: Aggregate::Sum,
      base_values: vec![],
      post_transform: PostTransform::None,
      traits: OnceLock::new(),
    };
    for (t, (yes, no)) in thresholds.iter().zip(leaf_votes) {
      let root = ensemble.nodes.len() as u32;
      ensemble.roots.push(root);
      ensemble.nodes.push(Node {
        feature: 0,
        threshold: *t,
        true_child: root + 1,
        false_child: root + 2,
        mode: Mode::Leq,
        nan_true: true,
      });
      for votes in [yes, no] {
        let start = ensemble.votes.len() as u32;
        ensemble.votes.extend(votes.iter().copied());
        let end = ensemble.votes.len() as u32;
        ensemble.nodes.push(Node {
          feature: 0,
          threshold: 0.0,
          true_child: start,
          false_child: end,
          mode: Mode::Leaf,
          nan_true: false,
        });
      }
    }
    ensemble
  }

  const fn vote(target: u32, weight: f32) -> Vote {
    Vote { target, weight }
  }

  #[test]
  fn regressors_sum_average_and_take_extremes() {
    let mut e = stumps(
      &[0.5, 1.5],
      &[(vec![vote(0, 1.0)], vec![vote(0, 3.0)]), (vec![vote(0, 10.0)], vec![vote(0, 30.0)])],
      1,
    );
    assert_eq!(e.regress(&[0.0, 1.0, 2.0, f32::NAN], 1), [11.0, 13.0, 33.0, 11.0]);
    e.aggregate = Aggregate::Average;
    e.base_values = vec![100.0];
    assert_eq!(e.regress(&[0.0], 1), [105.5]);
    e.aggregate = Aggregate::Max;
    e.base_values.clear();
    assert_eq!(e.regress(&[2.0], 1), [30.0]);
    e.aggregate = Aggregate::Min;
    assert_eq!(e.regress(&[2.0], 1), [3.0]);
  }

  #[test]
  fn multiclass_scores_pick_the_best_class_then_transform() {
    let mut e =
      stumps(&[0.5], &[(vec![vote(0, 0.7), vote(2, 0.3)], vec![vote(1, 0.9), vote(2, 0.1)])], 3);
    let (labels, scores) = e.classify(&[0.0, 1.0], 1);
    assert_eq!(labels, [0, 1]);
    assert_eq!(scores, [0.7, 0.0, 0.3, 0.0, 0.9, 0.1]);
    e.post_transform = PostTransform::Softmax;
    let (_, scores) = e.classify(&[1.0], 1);
    let total: f32 = scores.iter().sum();
    assert!((total - 1.0).abs() < 1e-6 && scores[1] > scores[2] && scores[2] > scores[0]);
  }

  #[test]
  fn binary_votes_for_one_class_give_complement_columns() {
    // As skl2onnx writes a binary random forest: every vote on class 0, holding P(class 1).
    let e = stumps(&[0.5], &[(vec![vote(0, 0.8)], vec![vote(0, 0.2)])], 2);
    let (labels, scores) = e.classify(&[0.0, 1.0], 1);
    assert_eq!(labels, [1, 0]);
    assert!(
      scores.iter().zip([0.2, 0.8, 0.8, 0.2]).all(|(a, b)| (a - b).abs() < 1e-6),
      "{scores:?}"
    );
  }

  #[test]
  fn binary_logistic_with_mixed_weights() {
    // As a binary gradient boosting export: one score, signed, logistic.
    let mut e = stumps(&[0.5], &[(vec![vote(0, 2.0)], vec![vote(0, -1.0)])], 2);
    e.post_transform = PostTransform::Logistic;
    let (labels, scores) = e.classify(&[0.0, 1.0], 1);
    assert_eq!(labels, [1, 0]);
    let expected = [logistic(-2.0), logistic(2.0), logistic(1.0), logistic(-1.0)];
    assert!(scores.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6), "{scores:?}");
  }
}
