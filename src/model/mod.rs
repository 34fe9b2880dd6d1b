//! `Model`: a session, the pipeline that feeds it (with its schema) and the reading of its outputs
//! as predictions. Pure Rust; `model::js` is the napi face.

#[cfg(feature = "binding")]
pub mod js;
pub mod text;

use serde_json::Value;
use tract_onnx::prelude::{DatumType, Tensor};

use crate::error::{Result, TractNodeError};
use crate::tensor::{DType, OutputTensor};

/// One record's prediction.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
  /// A class label (from the model's label output, or the most probable class) and, when the
  /// model outputs them, the class probabilities in class order.
  Class { label: Value, probabilities: Option<Vec<f32>> },
  /// A regression value (or values, for multi-output regressors).
  Value(Vec<f32>),
}

/// Reads a classifier's or regressor's outputs for `rows` records.
///
/// A float `[n, k≥2]` output is read as class probabilities, an int64 or string `[n]` (or `[n, 1]`)
/// output as labels; a model with neither is a regressor whose first float output holds the values.
/// `labels` name class indices (for integer label outputs, and for the argmax of probabilities).
pub fn interpret(
  outputs: &[(String, OutputTensor)],
  rows: usize,
  labels: Option<&[Value]>,
) -> Result<Vec<Prediction>> {
  let per_row = |o: &&(String, OutputTensor)| o.1.tensor.shape().first() == Some(&rows);
  let probabilities = outputs.iter().filter(per_row).find(|(_, o)| {
    matches!(o.dtype, DType::Float32 | DType::Float64)
      && o.tensor.rank() == 2
      && o.tensor.shape()[1] >= 2
  });
  let label_output = outputs.iter().filter(per_row).find(|(_, o)| {
    matches!(o.dtype, DType::Int64 | DType::Int32 | DType::String) && o.tensor.len() == rows
  });
  if probabilities.is_none() && label_output.is_none() {
    let (name, values) = outputs
      .iter()
      .filter(per_row)
      .find(|(_, o)| matches!(o.dtype, DType::Float32 | DType::Float64))
      .ok_or_else(|| TractNodeError::Internal {
        reason: format!("the model has no output with one row per record ({rows} rows)"),
      })?;
    let values = floats(name, &values.tensor)?;
    let width = values.len() / rows.max(1);
    return Ok(
      values.chunks(width.max(1)).map(|chunk| Prediction::Value(chunk.to_vec())).collect(),
    );
  }
  let probabilities = probabilities.map(|(name, o)| floats(name, &o.tensor)).transpose()?;
  let width = probabilities.as_ref().map_or(0, |p| p.len() / rows.max(1));
  let named =
    |index: usize| labels.and_then(|l| l.get(index)).cloned().unwrap_or(Value::from(index));
  let label_values =
    label_output.map(|(name, o)| label_values(name, &o.tensor, &named)).transpose()?;
  (0..rows)
    .map(|row| {
      let probs = probabilities.as_ref().map(|p| p[row * width..(row + 1) * width].to_vec());
      let label = match (&label_values, &probs) {
        (Some(values), _) => values[row].clone(),
        (None, Some(p)) => named(argmax(p)),
        (None, None) => unreachable!("a classifier has labels or probabilities"),
      };
      Ok(Prediction::Class { label, probabilities: probs })
    })
    .collect()
}

/// The values of a numeric output as f32.
pub(crate) fn floats(name: &str, tensor: &Tensor) -> Result<Vec<f32>> {
  let cast = tensor
    .cast_to_dt(DatumType::F32)
    .map_err(|e| TractNodeError::Internal { reason: format!("output '{name}': {e}") })?;
  let view =
    cast.try_as_plain_ram().map_err(|e| TractNodeError::Internal { reason: e.to_string() })?;
  Ok(
    view
      .as_slice::<f32>()
      .map_err(|e| TractNodeError::Internal { reason: e.to_string() })?
      .to_vec(),
  )
}

fn label_values(
  name: &str,
  tensor: &Tensor,
  named: &impl Fn(usize) -> Value,
) -> Result<Vec<Value>> {
  let internal = |e: tract_onnx::prelude::TractError| TractNodeError::Internal {
    reason: format!("output '{name}': {e}"),
  };
  let view = tensor.try_as_plain_ram().map_err(internal)?;
  if tensor.datum_type() == DatumType::String {
    return Ok(
      view
        .as_slice::<String>()
        .map_err(internal)?
        .iter()
        .map(|s| Value::from(s.as_str()))
        .collect(),
    );
  }
  let cast = tensor.cast_to_dt(DatumType::I64).map_err(internal)?;
  let view = cast.try_as_plain_ram().map_err(internal)?;
  Ok(
    view
      .as_slice::<i64>()
      .map_err(internal)?
      .iter()
      .map(|&i| if i >= 0 { named(i as usize) } else { Value::from(i) })
      .collect(),
  )
}

fn argmax(values: &[f32]) -> usize {
  values.iter().enumerate().fold(0, |best, (i, v)| if *v > values[best] { i } else { best })
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  fn output(name: &str, dtype: DType, tensor: Tensor) -> (String, OutputTensor) {
    (name.to_string(), OutputTensor { dtype, tensor })
  }

  #[test]
  fn classifiers_read_labels_and_probabilities() {
    let probs = Tensor::from_shape(&[2, 3], &[0.1f32, 0.7, 0.2, 0.5, 0.2, 0.3]).unwrap();
    let ints = Tensor::from_shape(&[2], &[1i64, 0]).unwrap();
    let labels = [json!("a"), json!("b"), json!("c")];
    let with_label = interpret(
      &[output("label", DType::Int64, ints), output("p", DType::Float32, probs.clone())],
      2,
      Some(&labels),
    )
    .unwrap();
    assert_eq!(
      with_label[0],
      Prediction::Class { label: json!("b"), probabilities: Some(vec![0.1, 0.7, 0.2]) }
    );
    let argmax_only = interpret(&[output("p", DType::Float32, probs)], 2, None).unwrap();
    assert_eq!(
      argmax_only[1],
      Prediction::Class { label: json!(0), probabilities: Some(vec![0.5, 0.2, 0.3]) }
    );
  }

  #[test]
  fn regressors_read_values() {
    let values = Tensor::from_shape(&[3, 1], &[1.5f32, -2.0, 0.25]).unwrap();
    let predictions = interpret(&[output("variable", DType::Float32, values)], 3, None).unwrap();
    assert_eq!(
      predictions,
      vec![
        Prediction::Value(vec![1.5]),
        Prediction::Value(vec![-2.0]),
        Prediction::Value(vec![0.25])
      ]
    );
  }
}
