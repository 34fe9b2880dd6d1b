//! The operator shell every ai.onnx.ml predictor here shares: `X [rows, features]` (any numeric
//! type, read as f32) in; out, for a classifier, the label of each row (int64 or string) and its score
//! columns (f32), for a regressor its values (f32). A predictor only says how it scores rows
//! ([`Predict`]).

use std::fmt::Debug;
use std::sync::Arc;

use tract_hir::internal::*;

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

/// The inference-level operator.
#[derive(Debug)]
pub struct Predictor<P>(pub Arc<P>);

impl<P> Clone for Predictor<P> {
  fn clone(&self) -> Self {
    Predictor(self.0.clone())
  }
}

impl<P: Predict> Expansion for Predictor<P> {
  fn name(&self) -> StaticName {
    self.0.name().into()
  }

  fn nboutputs(&self) -> TractResult<usize> {
    Ok(if self.0.labels().is_some() { 2 } else { 1 })
  }

  fn rules<'r, 'p: 'r, 's: 'r>(
    &'s self,
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
  ) -> InferenceResult {
    check_input_arity(inputs, 1)?;
    check_output_arity(outputs, self.nboutputs()?)?;
    s.equals(&inputs[0].rank, 2)?;
    let scores = &outputs[outputs.len() - 1];
    s.equals(&scores.datum_type, DatumType::F32)?;
    s.equals(&scores.rank, 2)?;
    s.equals(&scores.shape[0], &inputs[0].shape[0])?;
    s.equals(&scores.shape[1], self.0.columns().to_dim())?;
    if let Some(labels) = self.0.labels() {
      s.equals(&outputs[0].datum_type, labels.datum_type())?;
      s.equals(&outputs[0].rank, 1)?;
      s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
    }
    Ok(())
  }

  fn wire(
    &self,
    prefix: &str,
    model: &mut TypedModel,
    inputs: &[OutletId],
  ) -> TractResult<TVec<OutletId>> {
    model.wire_node(prefix, PredictorOp(self.0.clone()), inputs)
  }
}

/// The runnable operator.
#[derive(Debug)]
pub struct PredictorOp<P>(Arc<P>);

impl<P> Clone for PredictorOp<P> {
  fn clone(&self) -> Self {
    PredictorOp(self.0.clone())
  }
}

impl<P> PartialEq for PredictorOp<P> {
  fn eq(&self, other: &Self) -> bool {
    Arc::ptr_eq(&self.0, &other.0)
  }
}

impl<P> Eq for PredictorOp<P> {}

impl<P: Predict> Op for PredictorOp<P> {
  fn name(&self) -> StaticName {
    self.0.name().into()
  }

  op_as_typed_op!();
}

impl<P: Predict> EvalOp for PredictorOp<P> {
  op_out_of_plan!();

  fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
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

impl<P: Predict> TypedOp for PredictorOp<P> {
  fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    let rows = inputs[0].shape[0].clone();
    let scores = f32::fact([rows.clone(), self.0.columns().to_dim()]);
    Ok(match self.0.labels() {
      Some(labels) => tvec!(labels.datum_type().fact([rows]), scores),
      None => tvec!(scores),
    })
  }

  as_op!();
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
