//! `OneHotEncoder` (ai.onnx.ml), which tract lacks.

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use super::map::map;

/// Registers the operator.
pub fn register(registry: &mut OnnxOpRegister) {
  registry.insert("OneHotEncoder", one_hot_encoder);
}

/// `OneHotEncoder`: each input value becomes a one-hot row over the categories (appended last
/// dim), f32. An unknown value is all zeros when `zeros` is 1 (the default), else an error.
fn one_hot_encoder(
  _: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let ints = node.get_attr_opt_slice::<i64>("cats_int64s")?.map(<[i64]>::to_vec);
  let strings: Option<Vec<String>> = node
    .get_attr_opt_tvec::<&str>("cats_strings")?
    .map(|s| s.iter().map(|s| s.to_string()).collect());
  let zeros: i64 = node.get_attr_opt("zeros")?.unwrap_or(1);
  let categories = match (ints, strings) {
    (Some(ints), None) if !ints.is_empty() => Categories::Ints(ints),
    (None, Some(strings)) if !strings.is_empty() => Categories::Strings(strings),
    _ => bail!("exactly one of cats_int64s and cats_strings must list the categories"),
  };
  let count = categories.len();
  map("OneHotEncoder", Some(f32::datum_type()), Some(count), move |input| {
    let positions: Vec<Option<usize>> = match (&categories, input.datum_type()) {
      (Categories::Strings(cats), DatumType::String) => input
        .try_as_plain_ram()?
        .as_slice::<String>()?
        .iter()
        .map(|v| cats.iter().position(|c| c == v))
        .collect(),
      (Categories::Ints(cats), _) if input.datum_type() != DatumType::String => {
        let values = input.cast_to::<i64>()?;
        values
          .try_as_plain_ram()?
          .as_slice::<i64>()?
          .iter()
          .map(|v| cats.iter().position(|c| c == v))
          .collect()
      }
      (_, dt) => bail!("OneHotEncoder: input of type {dt:?} does not match the category type"),
    };
    ensure!(
      zeros != 0 || positions.iter().all(Option::is_some),
      "OneHotEncoder: a value is not a known category"
    );
    let mut out = vec![0f32; positions.len() * count];
    for (i, position) in positions.iter().enumerate() {
      if let Some(p) = position {
        out[i * count + p] = 1.0;
      }
    }
    let mut shape = input.shape().to_vec();
    shape.push(count);
    Tensor::from_shape(&shape, &out)
  })
}

enum Categories {
  Ints(Vec<i64>),
  Strings(Vec<String>),
}

impl Categories {
  fn len(&self) -> usize {
    match self {
      Categories::Ints(c) => c.len(),
      Categories::Strings(c) => c.len(),
    }
  }
}
