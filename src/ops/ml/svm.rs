//! `SVMClassifier` and `SVMRegressor` (ai.onnx.ml), which tract lacks: scikit-learn's SVC, NuSVC,
//! SVR, NuSVR and OneClassSVM export to them. Semantics are onnxruntime's (and the ONNX reference
//! implementation's): kernel values against every support vector, one-vs-one votes between classes,
//! Platt-scaled pairwise probabilities coupled into class probabilities when `prob_a` is given; a
//! model without support vectors is a linear one (`X · coefficientsᵀ + rho`).

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::ensemble::{probit, transform, PostTransform};
use super::predictor::{class_labels, Predict, Predictor};

/// Registers both operators.
pub fn register(registry: &mut OnnxOpRegister) {
  registry.insert("SVMClassifier", svm_classifier);
  registry.insert("SVMRegressor", svm_regressor);
}

/// The kernel between an input row and a support vector.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kernel {
  Linear,
  Poly { gamma: f32, coef0: f32, degree: i32 },
  Rbf { gamma: f32 },
  Sigmoid { gamma: f32, coef0: f32 },
}

impl Kernel {
  fn parse(node: &NodeProto) -> TractResult<Kernel> {
    let params = node.get_attr_opt_slice::<f32>("kernel_params")?.unwrap_or(&[]);
    let param = |i: usize| params.get(i).copied().unwrap_or(0.0);
    let (gamma, coef0, degree) = (param(0), param(1), param(2) as i32);
    Ok(match node.get_attr_opt::<&str>("kernel_type")?.unwrap_or("LINEAR") {
      "LINEAR" => Kernel::Linear,
      "POLY" => Kernel::Poly { gamma, coef0, degree },
      "RBF" => Kernel::Rbf { gamma },
      "SIGMOID" => Kernel::Sigmoid { gamma, coef0 },
      other => bail!("kernel_type {other:?} is not LINEAR, POLY, RBF or SIGMOID"),
    })
  }

  fn eval(self, a: &[f32], b: &[f32]) -> f32 {
    let dot = || a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    match self {
      Kernel::Linear => dot(),
      Kernel::Poly { gamma, coef0, degree } => (dot() * gamma + coef0).powi(degree),
      Kernel::Rbf { gamma } => {
        let distance: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        (-gamma * distance).exp()
      }
      Kernel::Sigmoid { gamma, coef0 } => (dot() * gamma + coef0).tanh(),
    }
  }
}

/// The support vectors (or, for a linear model, nothing) and the kernel.
#[derive(Debug, Clone, PartialEq)]
struct Support {
  kernel: Kernel,
  /// `vectors × features`, row-major.
  vectors: Vec<f32>,
  features: usize,
}

impl Support {
  fn count(&self) -> usize {
    self.vectors.len() / self.features.max(1)
  }

  /// The kernel of `row` with each support vector.
  fn kernels(&self, row: &[f32]) -> Vec<f32> {
    self.vectors.chunks_exact(self.features).map(|vector| self.kernel.eval(row, vector)).collect()
  }
}

fn floats(node: &NodeProto, name: &str) -> TractResult<Vec<f32>> {
  Ok(node.get_attr_opt_slice::<f32>(name)?.unwrap_or(&[]).to_vec())
}

/// `SVMClassifier`.
#[derive(Debug)]
struct SvmClassifier {
  support: Support,
  /// Support vectors per class (empty for a linear model).
  vectors_per_class: Vec<usize>,
  /// Per pair of classes `(i, j)`, `vectors` dual coefficients for each of the `classes − 1` rows;
  /// for a linear model, `classes × features` weights.
  coefficients: Vec<f32>,
  rho: Vec<f32>,
  prob_a: Vec<f32>,
  prob_b: Vec<f32>,
  post_transform: PostTransform,
  labels: Tensor,
}

fn svm_classifier(
  _ctx: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let labels = class_labels(node, "classlabels_ints")?;
  let classes = labels.len();
  let vectors_per_class: Vec<usize> = node
    .get_attr_opt_slice::<i64>("vectors_per_class")?
    .unwrap_or(&[])
    .iter()
    .map(|&n| usize::try_from(n))
    .collect::<Result<_, _>>()
    .context("vectors_per_class must not be negative")?;
  let vectors: usize = vectors_per_class.iter().sum();
  let support_vectors = floats(node, "support_vectors")?;
  let coefficients = floats(node, "coefficients")?;
  let rho = floats(node, "rho")?;
  let (prob_a, prob_b) = (floats(node, "prob_a")?, floats(node, "prob_b")?);
  let pairs = classes * classes.saturating_sub(1) / 2;
  let features = if vectors > 0 {
    node.expect_attr(
      "vectors_per_class",
      vectors_per_class.len() == classes,
      "one count per class",
    )?;
    node.expect_attr(
      "support_vectors",
      !support_vectors.is_empty() && support_vectors.len() % vectors == 0,
      "vectors × features values",
    )?;
    node.expect_attr(
      "coefficients",
      coefficients.len() == vectors * (classes - 1),
      "(classes − 1) × vectors values",
    )?;
    node.expect_attr("rho", rho.len() == pairs, "one value per pair of classes")?;
    if !prob_a.is_empty() {
      node.expect_attr(
        "prob_a",
        prob_a.len() == pairs && prob_b.len() == pairs,
        "one value per pair of classes",
      )?;
    }
    support_vectors.len() / vectors
  } else {
    node.expect_attr(
      "coefficients",
      classes > 0 && coefficients.len() % classes == 0,
      "classes × features values",
    )?;
    node.expect_attr("rho", !rho.is_empty(), "at least one value")?;
    coefficients.len() / classes
  };
  let op = SvmClassifier {
    support: Support { kernel: Kernel::parse(node)?, vectors: support_vectors, features },
    vectors_per_class,
    coefficients,
    rho,
    prob_a,
    prob_b,
    post_transform: super::post_transform(node)?,
    labels,
  };
  Predictor::parsed(op)
}

impl SvmClassifier {
  fn classes(&self) -> usize {
    self.labels.len()
  }

  fn is_linear(&self) -> bool {
    self.vectors_per_class.is_empty()
  }

  /// One-vs-one decision values (one per pair of classes, in `(0,1), (0,2) … (1,2) …` order) and
  /// the votes they give each class.
  fn one_vs_one(&self, row: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let classes = self.classes();
    let vectors = self.support.count();
    let kernels = self.support.kernels(row);
    let mut starts = Vec::with_capacity(classes);
    self.vectors_per_class.iter().fold(0, |start, &count| {
      starts.push(start);
      start + count
    });
    let weighted = |coefficient_row: usize, class: usize| -> f32 {
      let range = starts[class]..starts[class] + self.vectors_per_class[class];
      let coefficients = &self.coefficients[coefficient_row * vectors..][range.clone()];
      coefficients.iter().zip(&kernels[range]).map(|(c, k)| c * k).sum()
    };
    let mut values = Vec::with_capacity(self.rho.len());
    let mut votes = vec![0u32; classes];
    for i in 0..classes {
      for j in i + 1..classes {
        let value = self.rho[values.len()] + weighted(j - 1, i) + weighted(i, j);
        votes[if value > 0.0 { i } else { j }] += 1;
        values.push(value);
      }
    }
    (values, votes)
  }

  /// Class probabilities from the pairwise decision values: Platt's sigmoid per pair, then the
  /// pairwise coupling of Wu, Lin and Weng (libsvm's `multiclass_probability`).
  fn probabilities(&self, values: &[f32]) -> Vec<f32> {
    let classes = self.classes();
    let mut pairwise = vec![vec![0f32; classes]; classes];
    let pairs = (0..classes).flat_map(|i| (i + 1..classes).map(move |j| (i, j)));
    for (pair, (i, j)) in pairs.enumerate() {
      let platt = 1.0 - logistic(values[pair] * self.prob_a[pair] + self.prob_b[pair]);
      let p = platt.clamp(1e-7, 1.0 - 1e-7);
      pairwise[i][j] = p;
      pairwise[j][i] = 1.0 - p;
    }
    couple(&pairwise)
  }
}

fn logistic(value: f32) -> f32 {
  let v = 1.0 / (1.0 + (-value.abs()).exp());
  if value < 0.0 {
    1.0 - v
  } else {
    v
  }
}

/// libsvm's iterative solution for class probabilities `p` from pairwise ones `r[i][j]`.
fn couple(r: &[Vec<f32>]) -> Vec<f32> {
  let k = r.len();
  let mut q = vec![vec![0f32; k]; k];
  for t in 0..k {
    q[t][t] = (0..k).filter(|&j| j != t).map(|j| r[j][t] * r[j][t]).sum();
    for j in 0..k {
      if j != t {
        q[t][j] = -r[j][t] * r[t][j];
      }
    }
  }
  let mut p = vec![1.0 / k as f32; k];
  let mut qp = vec![0f32; k];
  let eps = 0.005 / k as f32;
  for _ in 0..100.max(k) {
    for t in 0..k {
      qp[t] = (0..k).map(|j| q[t][j] * p[j]).sum();
    }
    let mut pqp: f32 = (0..k).map(|t| p[t] * qp[t]).sum();
    if qp.iter().all(|&v| (v - pqp).abs() < eps) {
      break;
    }
    for t in 0..k {
      let diff = (-qp[t] + pqp) / q[t][t];
      p[t] += diff;
      pqp = (pqp + diff * (diff * q[t][t] + 2.0 * qp[t])) / ((1.0 + diff) * (1.0 + diff));
      for j in 0..k {
        qp[j] = (qp[j] + diff * q[t][j]) / (1.0 + diff);
        p[j] /= 1.0 + diff;
      }
    }
  }
  p
}

impl Predict for SvmClassifier {
  fn name(&self) -> &'static str {
    "SVMClassifier"
  }

  fn labels(&self) -> Option<&Tensor> {
    Some(&self.labels)
  }

  /// Class probabilities; else one-vs-one values (two columns, `[−v, v]`, for two classes); else,
  /// for a linear model, one score per class.
  fn columns(&self) -> usize {
    let classes = self.classes();
    match () {
      _ if self.is_linear() => classes,
      _ if !self.prob_a.is_empty() || classes == 2 => classes,
      _ => classes * (classes - 1) / 2,
    }
  }

  fn check_width(&self, width: usize) -> TractResult<()> {
    let features = self.support.features;
    ensure!(width == features, "SVMClassifier takes rows of {features} features, got {width}");
    Ok(())
  }

  fn predict(&self, input: &[f32], width: usize) -> (Vec<usize>, Vec<f32>) {
    let rows = input.chunks_exact(width.max(1));
    let mut winners = Vec::with_capacity(rows.len());
    let mut scores = Vec::with_capacity(rows.len() * self.columns());
    for row in rows {
      if self.is_linear() {
        let mut values: Vec<f32> = self
          .coefficients
          .chunks_exact(width)
          .map(|weights| self.rho[0] + self.support.kernel.eval(row, weights))
          .collect();
        winners.push(first_max(&values));
        transform(&mut values, self.post_transform);
        scores.extend(values);
        continue;
      }
      let (values, votes) = self.one_vs_one(row);
      // The label comes from the votes, probabilities or not (the first class wins ties).
      let votes: Vec<f32> = votes.iter().map(|&v| v as f32).collect();
      winners.push(first_max(&votes));
      if !self.prob_a.is_empty() {
        let mut probabilities = self.probabilities(&values);
        transform(&mut probabilities, self.post_transform);
        scores.extend(probabilities);
      } else if self.classes() == 2 {
        scores.extend(match self.post_transform {
          PostTransform::Probit => [probit(values[0]), 0.0],
          _ => [-values[0], values[0]],
        });
      } else {
        let mut values = values;
        transform(&mut values, self.post_transform);
        scores.extend(values);
      }
    }
    (winners, scores)
  }
}

/// The index of the first largest value.
fn first_max(values: &[f32]) -> usize {
  (1..values.len()).fold(0, |best, i| if values[i] > values[best] { i } else { best })
}

/// `SVMRegressor`: `Σ coefficientᵢ · K(x, svᵢ) + rho` (or `x · coefficients + rho` without support
/// vectors); a one-class model answers ±1.
#[derive(Debug)]
struct SvmRegressor {
  support: Support,
  coefficients: Vec<f32>,
  rho: f32,
  one_class: bool,
}

fn svm_regressor(
  _ctx: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let supports = usize::try_from(node.get_attr_opt::<i64>("n_supports")?.unwrap_or(0))
    .context("n_supports must not be negative")?;
  let support_vectors = floats(node, "support_vectors")?;
  let coefficients = floats(node, "coefficients")?;
  let rho = floats(node, "rho")?;
  node.expect_attr("rho", rho.len() == 1, "one value")?;
  let features = if supports > 0 {
    node.expect_attr(
      "support_vectors",
      !support_vectors.is_empty() && support_vectors.len() % supports == 0,
      "n_supports × features values",
    )?;
    node.expect_attr("coefficients", coefficients.len() == supports, "one per support vector")?;
    support_vectors.len() / supports
  } else {
    coefficients.len()
  };
  let kernel = if supports > 0 { Kernel::parse(node)? } else { Kernel::Linear };
  let op = SvmRegressor {
    support: Support { kernel, vectors: support_vectors, features },
    coefficients,
    rho: rho[0],
    one_class: node.get_attr_opt::<i64>("one_class")?.unwrap_or(0) != 0,
  };
  Predictor::parsed(op)
}

impl Predict for SvmRegressor {
  fn name(&self) -> &'static str {
    "SVMRegressor"
  }

  fn labels(&self) -> Option<&Tensor> {
    None
  }

  fn columns(&self) -> usize {
    1
  }

  fn check_width(&self, width: usize) -> TractResult<()> {
    let features = self.support.features;
    ensure!(width == features, "SVMRegressor takes rows of {features} features, got {width}");
    Ok(())
  }

  fn predict(&self, input: &[f32], width: usize) -> (Vec<usize>, Vec<f32>) {
    let values = input
      .chunks_exact(width.max(1))
      .map(|row| {
        let value = if self.support.count() > 0 {
          let kernels = self.support.kernels(row);
          self.coefficients.iter().zip(&kernels).map(|(c, k)| c * k).sum::<f32>()
        } else {
          self.support.kernel.eval(row, &self.coefficients)
        } + self.rho;
        match (self.one_class, value > 0.0) {
          (false, _) => value,
          (true, true) => 1.0,
          (true, false) => -1.0,
        }
      })
      .collect();
    (Vec::new(), values)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn kernels_match_their_formulas() {
    let (a, b) = ([1.0, 2.0], [3.0, -1.0]);
    assert_eq!(Kernel::Linear.eval(&a, &b), 1.0);
    assert_eq!(Kernel::Poly { gamma: 0.5, coef0: 1.0, degree: 2 }.eval(&a, &b), 2.25);
    assert!((Kernel::Rbf { gamma: 0.1 }.eval(&a, &b) - (-1.3f32).exp()).abs() < 1e-6);
    assert!((Kernel::Sigmoid { gamma: 0.5, coef0: 0.0 }.eval(&a, &b) - 0.5f32.tanh()).abs() < 1e-6);
  }

  #[test]
  fn coupling_recovers_consistent_pairwise_probabilities() {
    // Classes with probabilities 0.5, 0.3, 0.2: r[i][j] = p_i / (p_i + p_j).
    let p = [0.5f32, 0.3, 0.2];
    let r: Vec<Vec<f32>> = (0..3)
      .map(|i| (0..3).map(|j| if i == j { 0.0 } else { p[i] / (p[i] + p[j]) }).collect())
      .collect();
    let coupled = couple(&r);
    for (c, e) in coupled.iter().zip(p) {
      assert!((c - e).abs() < 1e-3, "{coupled:?}");
    }
  }
}
