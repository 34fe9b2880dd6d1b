//! `Imputer` (ai.onnx.ml), which tract lacks.

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::map::{floats, map, per_column};

/// Registers the operator.
pub fn register(registry: &mut OnnxOpRegister) {
  registry.insert("Imputer", imputer);
}

/// `Imputer`: values equal to `replaced_value_float` (NaN by default in scikit-learn's exports)
/// become the column's `imputed_value_floats`.
fn imputer(
  _: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let imputed = node.get_attr_opt_slice::<f32>("imputed_value_floats")?.unwrap_or(&[]).to_vec();
  node.expect_attr("imputed_value_floats", !imputed.is_empty(), "imputed values (floats)")?;
  let replaced: f32 = node.get_attr_opt("replaced_value_float")?.unwrap_or(0.0);
  map("Imputer", None, None, move |input| {
    let (shape, mut values) = floats(input)?;
    let width = shape.last().copied().unwrap_or(1).max(1);
    let imputed = per_column(&imputed, width, "imputed_value_floats")?;
    let missing = |v: f32| if replaced.is_nan() { v.is_nan() } else { v == replaced };
    for row in values.chunks_mut(width) {
      for (j, v) in row.iter_mut().enumerate() {
        if missing(*v) {
          *v = imputed[j];
        }
      }
    }
    Ok(Tensor::from_shape(&shape, &values)?.cast_to_dt(input.datum_type())?.into_owned())
  })
}
