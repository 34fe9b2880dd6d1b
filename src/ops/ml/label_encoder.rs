//! `LabelEncoder` and `CategoryMapper` (ai.onnx.ml): every element of the input mapped through a
//! table of keys to values (for LabelEncoder strings, int64s, floats, or tensors of those, opset 4;
//! for CategoryMapper strings ↔ int64s), unknown keys to the default. scikit-learn pipelines use
//! them to turn string categories into codes and codes back into labels.

use std::collections::HashMap;

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use crate::ops::plain::{plain, values_of, FactSpec, Plain};

/// Registers both operators.
pub fn register(registry: &mut OnnxOpRegister) {
  registry.insert("LabelEncoder", label_encoder);
  registry.insert("CategoryMapper", category_mapper);
}

/// A key, comparable across the element types keys come in (floats by bits, NaN matching NaN).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
  Text(String),
  Int(i64),
  Float(u64),
}

impl Key {
  fn float(value: f64) -> Key {
    Key::Float(if value.is_nan() { f64::NAN.to_bits() } else { (value + 0.0).to_bits() })
  }
}

/// The elements of a tensor as keys.
fn keys_of(tensor: &Tensor) -> TractResult<Vec<Key>> {
  let dt = tensor.datum_type();
  Ok(if dt == DatumType::String {
    tensor.try_as_plain_ram()?.as_slice::<String>()?.iter().cloned().map(Key::Text).collect()
  } else if dt.is_integer() {
    values_of::<i64>(tensor)?.into_iter().map(Key::Int).collect()
  } else if dt.is_float() {
    values_of::<f64>(tensor)?.into_iter().map(Key::float).collect()
  } else {
    bail!("LabelEncoder keys of type {dt:?} are not supported")
  })
}

/// A tensor attribute, if present.
fn tensor_attribute(
  ctx: &ParsingContext,
  node: &NodeProto,
  name: &str,
) -> TractResult<Option<Tensor>> {
  node
    .get_attr_opt::<&tract_onnx::pb::TensorProto>(name)?
    .map(|proto| ctx.load_tensor(proto))
    .transpose()
}

/// The first of the named list attributes present, as a 1-D tensor, or the `<kind>_tensor` one.
fn table_attribute(ctx: &ParsingContext, node: &NodeProto, kind: &str) -> TractResult<Tensor> {
  if let Some(strings) = node.get_attr_opt_tvec::<String>(&format!("{kind}_strings"))? {
    return Ok(tensor1(&strings));
  }
  if let Some(ints) = node.get_attr_opt_slice::<i64>(&format!("{kind}_int64s"))? {
    return Ok(tensor1(ints));
  }
  if let Some(floats) = node.get_attr_opt_slice::<f32>(&format!("{kind}_floats"))? {
    return Ok(tensor1(floats));
  }
  let tensor = tensor_attribute(ctx, node, &format!("{kind}_tensor"))?;
  let tensor = tensor.with_context(|| {
    format!("LabelEncoder needs {kind}_strings, {kind}_int64s, {kind}_floats or {kind}_tensor")
  })?;
  let len = tensor.len();
  tensor.into_shape(&[len])
}

/// The value for unknown keys: the attribute matching the values' type, else the ONNX default.
fn default_value(ctx: &ParsingContext, node: &NodeProto, values: &Tensor) -> TractResult<Tensor> {
  if let Some(tensor) = tensor_attribute(ctx, node, "default_tensor")? {
    return tensor.cast_to_dt(values.datum_type())?.into_owned().into_shape(&[1]);
  }
  Ok(match values.datum_type() {
    DatumType::String => {
      tensor1(&[node.get_attr_opt::<String>("default_string")?.unwrap_or_else(|| "_Unused".into())])
    }
    DatumType::I64 => tensor1(&[node.get_attr_opt::<i64>("default_int64")?.unwrap_or(-1)]),
    dt => tensor1(&[node.get_attr_opt::<f32>("default_float")?.unwrap_or(-0.0)])
      .cast_to_dt(dt)?
      .into_owned(),
  })
}

fn label_encoder(
  ctx: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let keys = keys_of(&table_attribute(ctx, node, "keys")?)?;
  let values = table_attribute(ctx, node, "values")?;
  node.expect_attr("values", values.len() == keys.len(), "one value per key")?;
  // The table with the default appended: index `keys.len()` is "unknown".
  let table = Tensor::stack_tensors(0, &[values.clone(), default_value(ctx, node, &values)?])?;
  let mut index: HashMap<Key, usize> = HashMap::with_capacity(keys.len());
  for (i, key) in keys.into_iter().enumerate() {
    index.entry(key).or_insert(i);
  }
  let unknown = table.len() - 1;
  super::map::map("LabelEncoder", Some(table.datum_type()), None, move |input| {
    let positions: Vec<usize> =
      keys_of(input)?.iter().map(|key| index.get(key).copied().unwrap_or(unknown)).collect();
    take(&table, &positions, input.shape())
  })
}

/// `table[positions]`, shaped `shape`: strings cloned, other values copied byte for byte (one
/// routine for every plain type: generic over each, `take` took 98 KB of the package).
fn take(table: &Tensor, positions: &[usize], shape: &[usize]) -> TractResult<Tensor> {
  let dt = table.datum_type();
  if dt == DatumType::String {
    let table = table.try_as_plain_ram()?;
    let table = table.as_slice::<String>()?;
    let taken: Vec<String> = positions.iter().map(|&p| table[p].clone()).collect();
    return Ok(tract_ndarray::ArrayD::from_shape_vec(shape, taken)?.into_tensor());
  }
  ensure!(dt.is_copy(), "LabelEncoder values of type {dt:?}");
  // SAFETY: every value is written below (one per position, checked).
  let mut taken = unsafe { Tensor::uninitialized_dt(dt, shape)? };
  ensure!(taken.len() == positions.len(), "{} positions for shape {shape:?}", positions.len());
  let size = dt.size_of();
  let source = table.as_bytes();
  for (target, &position) in taken.as_bytes_mut().chunks_exact_mut(size).zip(positions) {
    target.copy_from_slice(&source[position * size..][..size]);
  }
  Ok(taken)
}

/// `CategoryMapper` (ai.onnx.ml): strings to int64s or int64s to strings through the paired
/// `cats_strings` / `cats_int64s`, unknown values to `default_int64` (−1) or `default_string`
/// (`_Unused`). In place of tract's, which refuses a node carrying both defaults (skl2onnx's do).
#[derive(Debug)]
struct CategoryMapper {
  to_int: HashMap<String, i64>,
  to_string: HashMap<i64, String>,
  default_int: i64,
  default_string: String,
}

fn category_mapper(
  _ctx: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let strings = node.get_attr_opt_tvec::<String>("cats_strings")?.unwrap_or_default();
  let ints = node.get_attr_opt_slice::<i64>("cats_int64s")?.unwrap_or(&[]).to_vec();
  node.expect_attr("cats_int64s", ints.len() == strings.len(), "one integer per string")?;
  plain(CategoryMapper {
    // The first occurrence of a key wins.
    to_int: strings.iter().cloned().zip(ints.iter().copied()).rev().collect(),
    to_string: ints.into_iter().zip(strings).rev().collect(),
    default_int: node.get_attr_opt::<i64>("default_int64")?.unwrap_or(-1),
    default_string: node
      .get_attr_opt::<String>("default_string")?
      .unwrap_or_else(|| "_Unused".into()),
  })
}

impl Plain for CategoryMapper {
  fn name(&self) -> &'static str {
    "CategoryMapper"
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    let (dt, shape) = &inputs[0];
    let output = match dt {
      DatumType::String => DatumType::I64,
      DatumType::I64 => DatumType::String,
      other => bail!("CategoryMapper takes strings or int64s, got {other:?}"),
    };
    Ok(tvec!((output, shape.clone())))
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let input = &inputs[0];
    let shape = input.shape().to_vec();
    let plain = input.try_as_plain_ram()?;
    let output = if input.datum_type() == DatumType::String {
      let codes = plain
        .as_slice::<String>()?
        .iter()
        .map(|s| self.to_int.get(s).copied().unwrap_or(self.default_int));
      tract_ndarray::ArrayD::from_shape_vec(shape, codes.collect())?.into_tensor()
    } else {
      let names = plain
        .as_slice::<i64>()?
        .iter()
        .map(|i| self.to_string.get(i).unwrap_or(&self.default_string).clone());
      tract_ndarray::ArrayD::from_shape_vec(shape, names.collect())?.into_tensor()
    };
    Ok(tvec!(output.into_tvalue()))
  }
}
