//! `LinearClassifier` (ai.onnx.ml), in place of tract's, which cannot emit string class labels (the
//! default when scikit-learn is trained on string targets). Scores are `X · coefficientsᵀ +
//! intercepts`; the label is the best class (one class: positive when its score is above 0), and
//! the scores are post-transformed, with onnxruntime's two-column expansion of a lone binary score.

use std::sync::Arc;

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::ensemble::{probit, transform, PostTransform};

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
  labels: Arc<Tensor>,
}

fn linear_classifier(
  _ctx: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let coefficients = node.get_attr_slice::<f32>("coefficients")?.to_vec();
  let intercepts = node.get_attr_opt_slice::<f32>("intercepts")?.unwrap_or(&[]).to_vec();
  let ints = node.get_attr_opt_slice::<i64>("classlabels_ints")?;
  let strings = node.get_attr_opt_tvec::<&str>("classlabels_strings")?;
  let labels = match (ints, strings) {
    (Some(ints), None) if !ints.is_empty() => tensor1(ints),
    (None, Some(strings)) if !strings.is_empty() => {
      tensor1(&strings.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }
    _ => bail!("exactly one of classlabels_ints and classlabels_strings must list the classes"),
  };
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
    labels: Arc::new(labels),
  };
  Ok((expand(LinearClassifier(Arc::new(op))), vec![]))
}

impl Linear {
  fn features(&self) -> usize {
    self.coefficients.len() / self.classes
  }

  /// Output score columns: two for a lone binary score.
  fn columns(&self) -> usize {
    if self.classes == 1 {
      2
    } else {
      self.classes
    }
  }

  /// Label indices and `rows × columns` scores.
  fn classify(&self, input: &[f32]) -> (Vec<usize>, Vec<f32>) {
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

/// The inference-level operator.
#[derive(Debug, Clone)]
struct LinearClassifier(Arc<Linear>);

impl Expansion for LinearClassifier {
  fn name(&self) -> StaticName {
    "LinearClassifier".into()
  }

  fn nboutputs(&self) -> TractResult<usize> {
    Ok(2)
  }

  fn rules<'r, 'p: 'r, 's: 'r>(
    &'s self,
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
  ) -> InferenceResult {
    check_input_arity(inputs, 1)?;
    check_output_arity(outputs, 2)?;
    s.equals(&inputs[0].rank, 2)?;
    s.equals(&outputs[0].datum_type, self.0.labels.datum_type())?;
    s.equals(&outputs[0].rank, 1)?;
    s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
    s.equals(&outputs[1].datum_type, DatumType::F32)?;
    s.equals(&outputs[1].rank, 2)?;
    s.equals(&outputs[1].shape[0], &inputs[0].shape[0])?;
    s.equals(&outputs[1].shape[1], self.0.columns().to_dim())?;
    Ok(())
  }

  fn wire(
    &self,
    prefix: &str,
    model: &mut TypedModel,
    inputs: &[OutletId],
  ) -> TractResult<TVec<OutletId>> {
    model.wire_node(prefix, LinearClassifierOp(self.0.clone()), inputs)
  }
}

/// The runnable operator.
#[derive(Debug, Clone)]
struct LinearClassifierOp(Arc<Linear>);

eq_by_identity!(LinearClassifierOp, 0);

impl Op for LinearClassifierOp {
  fn name(&self) -> StaticName {
    "LinearClassifier".into()
  }

  op_as_typed_op!();
}

impl EvalOp for LinearClassifierOp {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let input = args_1!(inputs);
    let linear = &self.0;
    ensure!(
      input.rank() == 2 && input.shape()[1] == linear.features(),
      "LinearClassifier takes [rows, {}], got {:?}",
      linear.features(),
      input.shape()
    );
    let rows = input.shape()[0];
    let input = input.cast_to::<f32>()?;
    let (winners, scores) = linear.classify(input.try_as_plain_ram()?.as_slice::<f32>()?);
    let scores = Tensor::from_shape(&[rows, linear.columns()], &scores)?;
    Ok(tvec!(super::pick_labels(&linear.labels, &winners)?.into_tvalue(), scores.into_tvalue()))
  }
}

impl TypedOp for LinearClassifierOp {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    let rows = inputs[0].shape[0].clone();
    Ok(tvec!(
      self.0.labels.datum_type().fact([rows.clone()]),
      f32::fact([rows, self.0.columns().to_dim()])
    ))
  }

  as_op!();
}
