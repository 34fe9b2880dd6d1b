//! `LinearClassifier` (ai.onnx.ml), in place of tract's, which cannot emit string class labels (the
//! default when scikit-learn is trained on string targets). Scores are `X · coefficientsᵀ +
//! intercepts`; the label is the best class (one class: positive when its score is above 0), and
//! the scores are post-transformed, with onnxruntime's two-column expansion of a lone binary score.

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::ensemble::{probit, transform, PostTransform};
use super::predictor::{class_labels, Predict, Predictor};

/// Registers the operator.
pub fn register(registry: &mut OnnxOpRegister) {
  registry.insert("LinearClassifier", linear_classifier);
}

#[derive(Debug, Clone, PartialEq)]
struct Linear {
  /// `[classes × features]`, row-major.
  coefficients: Vec<f32>,
  intercepts: Vec<f32>,
  /// Score columns computed (`intercepts.len()`).
  classes: usize,
  post_transform: PostTransform,
  /// The labels; with one score column and two labels, the second is the positive class.
  labels: Tensor,
}

fn linear_classifier(
  _ctx: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let coefficients = node.get_attr_slice::<f32>("coefficients")?.to_vec();
  let intercepts = node.get_attr_opt_slice::<f32>("intercepts")?.unwrap_or(&[]).to_vec();
  let labels = class_labels(node, "classlabels_ints")?;
  let classes = intercepts.len();
  node.expect_attr("intercepts", classes > 0, "one intercept per score column")?;
  node.expect_attr(
    "coefficients",
    coefficients.len() % classes == 0,
    "classes × features values",
  )?;
  node.expect_attr(
    "classlabels",
    labels.len() == classes || (classes == 1 && labels.len() == 2),
    "one label per class (or two for one score column)",
  )?;
  let op = Linear {
    coefficients,
    intercepts,
    classes,
    post_transform: super::post_transform(node)?,
    labels,
  };
  Predictor::parsed(op)
}

impl Linear {
  fn features(&self) -> usize {
    self.coefficients.len() / self.classes
  }
}

impl Predict for Linear {
  fn name(&self) -> &'static str {
    "LinearClassifier"
  }

  fn labels(&self) -> Option<&Tensor> {
    Some(&self.labels)
  }

  fn check_width(&self, width: usize) -> TractResult<()> {
    let features = self.features();
    ensure!(width == features, "LinearClassifier takes rows of {features} features, got {width}");
    Ok(())
  }

  /// Two for a lone binary score.
  fn columns(&self) -> usize {
    if self.classes == 1 {
      2
    } else {
      self.classes
    }
  }

  fn predict(&self, input: &[f32], _width: usize) -> (Vec<usize>, Vec<f32>) {
    let features = self.features();
    let rows = input.len() / features.max(1);
    let mut labels = Vec::with_capacity(rows);
    let mut scores = Vec::with_capacity(rows * self.columns());
    for row in input.chunks_exact(features.max(1)).take(rows) {
      let mut values: Vec<f32> = (0..self.classes)
        .map(|c| {
          let weights = &self.coefficients[c * features..(c + 1) * features];
          self.intercepts[c] + weights.iter().zip(row).map(|(w, x)| w * x).sum::<f32>()
        })
        .collect();
      if self.classes == 1 {
        let score = values[0];
        labels.push(usize::from(score > 0.0));
        scores.extend(match self.post_transform {
          PostTransform::Probit => [probit(score), 0.0],
          _ => [1.0 - score, score],
        });
        continue;
      }
      // The first best class wins ties.
      let best =
        (1..values.len()).fold(0, |best, c| if values[c] > values[best] { c } else { best });
      labels.push(best);
      transform(&mut values, self.post_transform);
      scores.extend(values);
    }
    (labels, scores)
  }
}
