//! The `data` of a KServe V2 input, flat or nested, parsed straight into scalars and then into a
//! tensor of the input's datatype. No JSON value is made per element, and integers keep their
//! digits: an INT64 beyond 2^53 arrives exact, and 1.5 or 300 for a UINT8 are refused rather than
//! rounded or wrapped. The datatype may come after `data` in the JSON, so the scalars are kept as
//! parsed until the input is whole.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use tract_onnx::prelude::tract_ndarray::ArrayD;
use tract_onnx::prelude::{f16, Datum, Tensor};

use crate::error::{Result, TractNodeError};
use crate::tensor::{element_count, tensor_from_strings, DType};

/// One number or boolean of `data`, as the JSON wrote it.
#[derive(Clone, Copy)]
enum Scalar {
  Int(i64),
  Uint(u64),
  Float(f64),
  Bool(bool),
}

/// An input's `data`: its numbers and booleans, its strings (each in document order; a tensor
/// takes one kind), and how many values were neither (nulls, objects), which no datatype takes.
#[derive(Default)]
pub struct InputData {
  scalars: Vec<Scalar>,
  strings: Vec<String>,
  others: usize,
}

impl<'de> Deserialize<'de> for InputData {
  fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
    let mut data = InputData::default();
    Collect(&mut data).deserialize(deserializer)?;
    Ok(data)
  }
}

/// Adds one JSON value (a scalar, or an array of any depth) to an [`InputData`].
struct Collect<'a>(&'a mut InputData);

impl<'de> DeserializeSeed<'de> for Collect<'_> {
  type Value = ();

  fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<(), D::Error> {
    deserializer.deserialize_any(self)
  }
}

/// The visits of JSON numbers and booleans: each adds its [`Scalar`].
macro_rules! scalar_visits {
  ($($method:ident($ty:ty) => $variant:ident,)*) => {$(
    fn $method<E>(self, v: $ty) -> std::result::Result<(), E> {
      self.0.scalars.push(Scalar::$variant(v));
      Ok(())
    }
  )*};
}

impl<'de> Visitor<'de> for Collect<'_> {
  type Value = ();

  fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
    f.write_str("tensor data: values, flat or in nested arrays")
  }

  scalar_visits! {
    visit_bool(bool) => Bool,
    visit_i64(i64) => Int,
    visit_u64(u64) => Uint,
    visit_f64(f64) => Float,
  }

  fn visit_str<E>(self, v: &str) -> std::result::Result<(), E> {
    self.0.strings.push(v.to_owned());
    Ok(())
  }

  fn visit_string<E>(self, v: String) -> std::result::Result<(), E> {
    self.0.strings.push(v);
    Ok(())
  }

  fn visit_unit<E>(self) -> std::result::Result<(), E> {
    self.0.others += 1;
    Ok(())
  }

  fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    self.0.others += 1;
    Ok(())
  }

  fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
    while seq.next_element_seed(Collect(self.0))?.is_some() {}
    Ok(())
  }
}

impl InputData {
  /// The tensor of `dtype` (named `datatype` in the request) and `shape` these values make, for
  /// the input `name`.
  pub fn into_tensor(
    self,
    name: &str,
    datatype: &str,
    dtype: DType,
    shape: &[usize],
  ) -> Result<Tensor> {
    let expected = element_count(name, shape)?;
    let count = self.scalars.len() + self.strings.len() + self.others;
    if count != expected {
      return Err(TractNodeError::tensor_data(
        name,
        format!("shape {shape:?} needs {expected} elements, data has {count}"),
      ));
    }
    let scalars = &self.scalars;
    let tensor = match dtype {
      DType::String if self.strings.len() == count => {
        return tensor_from_strings(name, shape, self.strings)
      }
      DType::String => None,
      _ if scalars.len() != count => None,
      DType::Float32 => typed(shape, scalars, |s| float(s).map(|v| v as f32)),
      DType::Float64 => typed(shape, scalars, float),
      DType::Float16 => typed(shape, scalars, |s| float(s).map(f16::from_f64)),
      DType::Int8 => typed(shape, scalars, integer::<i8>),
      DType::Uint8 => typed(shape, scalars, integer::<u8>),
      DType::Int16 => typed(shape, scalars, integer::<i16>),
      DType::Uint16 => typed(shape, scalars, integer::<u16>),
      DType::Int32 => typed(shape, scalars, integer::<i32>),
      DType::Uint32 => typed(shape, scalars, integer::<u32>),
      DType::Int64 => typed(shape, scalars, integer::<i64>),
      DType::Uint64 => typed(shape, scalars, integer::<u64>),
      DType::Bool => typed(shape, scalars, truth),
    };
    tensor.ok_or_else(|| {
      TractNodeError::tensor_data(name, format!("{datatype} data must be {}", kind(dtype)))
    })
  }
}

/// What the values of `dtype` must be, for error messages.
fn kind(dtype: DType) -> &'static str {
  match dtype {
    DType::Float32 | DType::Float64 | DType::Float16 => "numbers",
    DType::Bool => "booleans (or numbers, 0 for false)",
    DType::String => "strings",
    _ => "whole numbers within its range",
  }
}

/// The tensor of `convert`ed `scalars`, or None when one does not convert.
fn typed<T: Datum>(
  shape: &[usize],
  scalars: &[Scalar],
  convert: impl Fn(Scalar) -> Option<T>,
) -> Option<Tensor> {
  let values = scalars.iter().map(|s| convert(*s)).collect::<Option<Vec<T>>>()?;
  // The count was checked against the shape.
  ArrayD::from_shape_vec(shape, values).ok().map(Tensor::from)
}

/// A number as a float (integers beyond 2^53 round to the nearest, as in any float).
fn float(scalar: Scalar) -> Option<f64> {
  match scalar {
    Scalar::Int(v) => Some(v as f64),
    Scalar::Uint(v) => Some(v as f64),
    Scalar::Float(v) => Some(v),
    Scalar::Bool(_) => None,
  }
}

/// A number as `T`, when it is a whole number within `T`'s range (`2.0` is; `2.5` is not).
fn integer<T: TryFrom<i64> + TryFrom<u64>>(scalar: Scalar) -> Option<T> {
  const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
  match scalar {
    Scalar::Int(v) => T::try_from(v).ok(),
    Scalar::Uint(v) => T::try_from(v).ok(),
    Scalar::Float(v) if v.fract() != 0.0 => None,
    Scalar::Float(v) if (-TWO_TO_63..TWO_TO_63).contains(&v) => T::try_from(v as i64).ok(),
    Scalar::Float(v) if (0.0..2.0 * TWO_TO_63).contains(&v) => T::try_from(v as u64).ok(),
    Scalar::Float(_) | Scalar::Bool(_) => None,
  }
}

/// A boolean, or a number as one (zero is false).
fn truth(scalar: Scalar) -> Option<bool> {
  match scalar {
    Scalar::Bool(v) => Some(v),
    Scalar::Int(v) => Some(v != 0),
    Scalar::Uint(v) => Some(v != 0),
    Scalar::Float(v) => Some(v != 0.0),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn tensor(datatype: &str, shape: &[usize], data: &str) -> Result<Tensor> {
    let dtype =
      DType::ALL.into_iter().find(|d| crate::serving::kserve::datatype(*d) == datatype).unwrap();
    let data: InputData = serde_json::from_str(data).unwrap();
    data.into_tensor("x", datatype, dtype, shape)
  }

  fn values<T: Datum + Clone>(tensor: &Tensor) -> Vec<T> {
    tensor.try_as_plain_ram().unwrap().as_slice::<T>().unwrap().to_vec()
  }

  fn code(result: Result<Tensor>) -> &'static str {
    result.err().map(|e| e.code().as_str()).unwrap_or("ok")
  }

  #[test]
  fn integers_keep_every_digit() {
    let t = tensor("INT64", &[3], "[9007199254740993, -9223372036854775808, 9223372036854775807]")
      .unwrap();
    assert_eq!(values::<i64>(&t), [9_007_199_254_740_993, i64::MIN, i64::MAX]);
    let t = tensor("UINT64", &[2], "[18446744073709551615, 2.0]").unwrap();
    assert_eq!(values::<u64>(&t), [u64::MAX, 2]);
  }

  #[test]
  fn integers_out_of_range_or_with_fractions_are_refused() {
    assert_eq!(code(tensor("INT64", &[1], "[1.5]")), "ERR_TENSOR_DATA");
    assert_eq!(code(tensor("UINT8", &[1], "[300]")), "ERR_TENSOR_DATA");
    assert_eq!(code(tensor("UINT8", &[1], "[-1]")), "ERR_TENSOR_DATA");
    assert_eq!(code(tensor("INT64", &[1], "[1e300]")), "ERR_TENSOR_DATA");
    assert_eq!(code(tensor("INT32", &[1], "[true]")), "ERR_TENSOR_DATA");
    let t = tensor("INT8", &[2], "[-128, 127.0]").unwrap();
    assert_eq!(values::<i8>(&t), [-128, 127]);
  }

  #[test]
  fn nested_data_flattens_in_order_and_floats_round_as_f32() {
    let t = tensor("FP32", &[2, 2], "[[0.1, 2], [-3, 16777217]]").unwrap();
    assert_eq!(t.shape(), &[2, 2]);
    assert_eq!(values::<f32>(&t), [0.1f32, 2.0, -3.0, 16_777_216.0]);
    let t = tensor("BOOL", &[3], "[true, 0, 2]").unwrap();
    assert_eq!(values::<bool>(&t), [true, false, true]);
    let t = tensor("BYTES", &[2], r#"[["a"], ["é"]]"#).unwrap();
    assert_eq!(values::<String>(&t), ["a".to_string(), "é".to_string()]);
  }

  #[test]
  fn values_no_datatype_takes_are_refused() {
    assert_eq!(code(tensor("FP32", &[2], "[1, null]")), "ERR_TENSOR_DATA");
    assert_eq!(code(tensor("FP32", &[2], r#"[1, {"a": 1}]"#)), "ERR_TENSOR_DATA");
    assert_eq!(code(tensor("FP32", &[2], r#"[1, "2"]"#)), "ERR_TENSOR_DATA");
    assert_eq!(code(tensor("BYTES", &[2], r#"["a", 2]"#)), "ERR_TENSOR_DATA");
    assert_eq!(code(tensor("FP32", &[3], "[1, 2]")), "ERR_TENSOR_DATA");
    assert_eq!(code(tensor("FP32", &[1 << 40, 1 << 40], "[]")), "ERR_TENSOR_DATA");
  }
}
