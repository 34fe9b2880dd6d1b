//! `NegativeLogLikelihoodLoss` and `SoftmaxCrossEntropyLoss` (ai.onnx), which tract lacks: the loss
//! of log-probabilities `[N, C, d…]` at target classes `[N, d…]`, with class weights, an ignored
//! index and a `none` / `sum` / `mean` (weighted) reduction, as the ONNX reference computes them.

use tract_hir::internal::*;
use tract_ndarray::{ArrayD, Axis};
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use crate::ops::plain::{array_of, plain, values_of, FactSpec, Plain};

/// Registers both operators.
pub fn register(reg: &mut OnnxOpRegister) {
  reg.insert("NegativeLogLikelihoodLoss", |_, node| plain(Loss::parse(node, false)?));
  reg.insert("SoftmaxCrossEntropyLoss", |_: &ParsingContext, node: &NodeProto| {
    plain(Loss::parse(node, true)?)
  });
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Reduction {
  None,
  Sum,
  Mean,
}

#[derive(Debug)]
struct Loss {
  /// Log-softmax the scores first (SoftmaxCrossEntropyLoss).
  softmax: bool,
  reduction: Reduction,
  ignore_index: Option<i64>,
  /// The log-probabilities as a second output (SoftmaxCrossEntropyLoss with two outputs).
  log_prob_output: bool,
}

impl Loss {
  fn parse(node: &NodeProto, softmax: bool) -> TractResult<Loss> {
    let reduction = match node.get_attr_opt::<&str>("reduction")?.unwrap_or("mean") {
      "none" => Reduction::None,
      "sum" => Reduction::Sum,
      "mean" => Reduction::Mean,
      other => bail!("reduction {other:?} is not none, sum or mean"),
    };
    let log_prob_output = softmax && node.output.iter().filter(|o| !o.is_empty()).count() == 2;
    Ok(Loss {
      softmax,
      reduction,
      ignore_index: node.get_attr_opt::<i64>("ignore_index")?,
      log_prob_output,
    })
  }
}

impl Plain for Loss {
  fn name(&self) -> &'static str {
    if self.softmax {
      "SoftmaxCrossEntropyLoss"
    } else {
      "NegativeLogLikelihoodLoss"
    }
  }

  fn nboutputs(&self) -> usize {
    1 + usize::from(self.log_prob_output)
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    ensure!(inputs.len() >= 2, "{} takes scores and targets", self.name());
    let (dt, scores) = &inputs[0];
    let loss_shape = if self.reduction == Reduction::None { inputs[1].1.clone() } else { tvec!() };
    let mut facts = tvec!((*dt, loss_shape));
    if self.log_prob_output {
      facts.push((*dt, scores.clone()));
    }
    Ok(facts)
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let dt = inputs[0].datum_type();
    let mut scores = array_of::<f64>(&inputs[0])?;
    ensure!(scores.ndim() >= 2, "scores must be [N, C, …], got {:?}", scores.shape());
    if self.softmax {
      log_softmax(&mut scores);
    }
    let targets = values_of::<i64>(&inputs[1])?;
    let class_weights = inputs.get(2).map(|w| values_of::<f64>(w)).transpose()?;
    let (n, classes) = (scores.shape()[0], scores.shape()[1]);
    let spatial: usize = scores.shape()[2..].iter().product();
    ensure!(
      targets.len() == n * spatial,
      "targets have {} values, scores need {}",
      targets.len(),
      n * spatial
    );
    let flat = scores.as_standard_layout();
    let flat = flat.as_slice().context("contiguous scores")?;
    let (mut losses, mut weights) =
      (Vec::with_capacity(targets.len()), Vec::with_capacity(targets.len()));
    for (position, &target) in targets.iter().enumerate() {
      let (i, d) = (position / spatial, position % spatial);
      if Some(target) == self.ignore_index {
        losses.push(0.0);
        weights.push(0.0);
        continue;
      }
      let class = usize::try_from(target)
        .ok()
        .filter(|&c| c < classes)
        .with_context(|| format!("target {target} is not a class of {classes}"))?;
      let weight = match &class_weights {
        Some(w) => *w.get(class).with_context(|| format!("no weight for class {class}"))?,
        None => 1.0,
      };
      losses.push(-flat[(i * classes + class) * spatial + d] * weight);
      weights.push(weight);
    }
    let loss = match self.reduction {
      Reduction::None => {
        tract_ndarray::Array::from_shape_vec(inputs[1].shape(), losses)?.into_tensor()
      }
      Reduction::Sum => tensor0(losses.iter().sum::<f64>()),
      Reduction::Mean => tensor0(losses.iter().sum::<f64>() / weights.iter().sum::<f64>()),
    };
    let mut outputs = tvec!(loss.cast_to_dt(dt)?.into_owned().into_tvalue());
    if self.log_prob_output {
      outputs.push(scores.into_tensor().cast_to_dt(dt)?.into_owned().into_tvalue());
    }
    Ok(outputs)
  }
}

/// Log-softmax along axis 1, in place.
fn log_softmax(scores: &mut ArrayD<f64>) {
  for mut lane in scores.lanes_mut(Axis(1)) {
    let max = lane.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_sum = lane.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
    lane.mapv_inplace(|x| x - max - log_sum);
  }
}
