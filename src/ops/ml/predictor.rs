//! The operator shell every ai.onnx.ml predictor here shares: `X [rows, features]` (any numeric
//! type, read as f32) in; out, for a classifier, the label of each row (int64 or string) and its score
//! columns (f32), for a regressor its values (f32). A predictor only says how it scores rows
//! ([`Predict`]).

use std::fmt::Debug;

use tract_hir::internal::*;

use crate::ops::plain::{plain, FactSpec, Plain};

/// What a classifier or regressor computes.
pub trait Predict: Debug + Send + Sync + 'static {
  /// The ONNX operator name.
  fn name(&self) -> &'static str;

  /// The class labels (int64 or string) a classifier's winners index; `None` for a regressor.
  fn labels(&self) -> Option<&Tensor>;

  /// Score (or value) columns per row.
  fn columns(&self) -> usize;

  /// Checks the width of input rows.
  fn check_width(&self, width: usize) -> TractResult<()>;

  /// For `input` (`rows × width`): each row's winning label index (empty for a regressor) and
  /// `rows × columns` scores.
  fn predict(&self, input: &[f32], width: usize) -> (Vec<usize>, Vec<f32>);
}

/// A [`Predict`] as a directly computed operator.
#[derive(Debug)]
pub struct Predictor<P>(pub P);

impl<P: Predict> Predictor<P> {
  /// The operator as tract's parser wants it.
  pub fn parsed(predictor: P) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    plain(Predictor(predictor))
  }
}

impl<P: Predict> Plain for Predictor<P> {
  fn name(&self) -> &'static str {
    self.0.name()
  }

  fn nboutputs(&self) -> usize {
    if self.0.labels().is_some() {
      2
    } else {
      1
    }
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    let rows = match inputs {
      [(_, shape)] if shape.len() == 2 => shape[0].clone(),
      _ => bail!("{} takes one [rows, features] input", self.0.name()),
    };
    let scores = (f32::datum_type(), tvec![rows.clone(), self.0.columns().to_dim()]);
    Ok(match self.0.labels() {
      Some(labels) => tvec!((labels.datum_type(), tvec![rows]), scores),
      None => tvec!(scores),
    })
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let input = args_1!(inputs);
    let predictor = &self.0;
    ensure!(
      input.rank() == 2,
      "{} takes [rows, features], got {:?}",
      predictor.name(),
      input.shape()
    );
    let (rows, width) = (input.shape()[0], input.shape()[1]);
    predictor.check_width(width)?;
    let input = input.cast_to::<f32>()?;
    let (winners, scores) = predictor.predict(input.try_as_plain_ram()?.as_slice::<f32>()?, width);
    let scores = Tensor::from_shape(&[rows, predictor.columns()], &scores)?.into_tvalue();
    Ok(match predictor.labels() {
      Some(labels) => tvec!(super::pick_labels(labels, &winners)?.into_tvalue(), scores),
      None => tvec!(scores),
    })
  }
}

/// The class labels of a classifier node: `<ints_attribute>` (`classlabels_ints` or
/// `classlabels_int64s`) or `classlabels_strings`.
pub fn class_labels(node: &tract_onnx::pb::NodeProto, ints_attribute: &str) -> TractResult<Tensor> {
  let ints = node.get_attr_opt_slice::<i64>(ints_attribute)?;
  let strings = node.get_attr_opt_tvec::<&str>("classlabels_strings")?;
  Ok(match (ints, strings) {
    (Some(ints), None) if !ints.is_empty() => tensor1(ints),
    (None, Some(strings)) if !strings.is_empty() => {
      tensor1(&strings.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }
    _ => bail!("exactly one of {ints_attribute} and classlabels_strings must list the classes"),
  })
}
