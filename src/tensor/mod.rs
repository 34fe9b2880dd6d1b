//! Element types and the conversion between raw tensor data and tract tensors.
//!
//! One way in ([`tensor_from_bytes`], [`tensor_from_strings`]) and one way out ([`into_output`]); the
//! JS half (`tensor::js`) only reads and builds JS values around these.

use tract_onnx::prelude::{DatumType, TDim, Tensor};

use crate::error::{Result, TractNodeError};

/// The element types a tensor can have in JS, named as onnxruntime-node names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
  Float32,
  Float64,
  Float16,
  Int8,
  Uint8,
  Int16,
  Uint16,
  Int32,
  Uint32,
  Int64,
  Uint64,
  Bool,
  String,
}

impl DType {
  /// Every dtype, in the order of the README table.
  pub const ALL: [DType; 13] = [
    DType::Float32,
    DType::Float64,
    DType::Float16,
    DType::Int8,
    DType::Uint8,
    DType::Int16,
    DType::Uint16,
    DType::Int32,
    DType::Uint32,
    DType::Int64,
    DType::Uint64,
    DType::Bool,
    DType::String,
  ];

  /// The JS name (`'float32'`, `'int64'`, …).
  pub fn name(self) -> &'static str {
    match self {
      DType::Float32 => "float32",
      DType::Float64 => "float64",
      DType::Float16 => "float16",
      DType::Int8 => "int8",
      DType::Uint8 => "uint8",
      DType::Int16 => "int16",
      DType::Uint16 => "uint16",
      DType::Int32 => "int32",
      DType::Uint32 => "uint32",
      DType::Int64 => "int64",
      DType::Uint64 => "uint64",
      DType::Bool => "bool",
      DType::String => "string",
    }
  }

  /// Parses a JS name.
  pub fn from_name(name: &str) -> Option<DType> {
    DType::ALL.into_iter().find(|d| d.name() == name)
  }

  /// Maps an ONNX `TensorProto.DataType` value.
  pub fn from_onnx(elem_type: i32) -> Option<DType> {
    Some(match elem_type {
      1 => DType::Float32,
      2 => DType::Uint8,
      3 => DType::Int8,
      4 => DType::Uint16,
      5 => DType::Int16,
      6 => DType::Int32,
      7 => DType::Int64,
      8 => DType::String,
      9 => DType::Bool,
      10 => DType::Float16,
      11 => DType::Float64,
      12 => DType::Uint32,
      13 => DType::Uint64,
      _ => return None,
    })
  }

  /// tract's datum type for this dtype.
  pub fn datum_type(self) -> DatumType {
    match self {
      DType::Float32 => DatumType::F32,
      DType::Float64 => DatumType::F64,
      DType::Float16 => DatumType::F16,
      DType::Int8 => DatumType::I8,
      DType::Uint8 => DatumType::U8,
      DType::Int16 => DatumType::I16,
      DType::Uint16 => DatumType::U16,
      DType::Int32 => DatumType::I32,
      DType::Uint32 => DatumType::U32,
      DType::Int64 => DatumType::I64,
      DType::Uint64 => DatumType::U64,
      DType::Bool => DatumType::Bool,
      DType::String => DatumType::String,
    }
  }

  /// The dtype JS receives for a tract datum type: quantized types travel as their storage type and
  /// symbolic dims as int64. `None` for types JS cannot hold (complex numbers, blobs…).
  pub fn for_output(dt: DatumType) -> Option<DType> {
    Some(match dt.unquantized() {
      DatumType::F32 => DType::Float32,
      DatumType::F64 => DType::Float64,
      DatumType::F16 => DType::Float16,
      DatumType::I8 => DType::Int8,
      DatumType::U8 => DType::Uint8,
      DatumType::I16 => DType::Int16,
      DatumType::U16 => DType::Uint16,
      DatumType::I32 => DType::Int32,
      DatumType::U32 => DType::Uint32,
      DatumType::I64 | DatumType::TDim => DType::Int64,
      DatumType::U64 => DType::Uint64,
      DatumType::Bool => DType::Bool,
      DatumType::String => DType::String,
      _ => return None,
    })
  }

  /// Bytes per element, `None` for strings.
  pub fn element_size(self) -> Option<usize> {
    match self {
      DType::String => None,
      other => Some(other.datum_type().size_of()),
    }
  }
}

/// Number of elements of `dims`, or a `TensorData` error if it overflows.
pub fn element_count(name: &str, dims: &[usize]) -> Result<usize> {
  dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
    TractNodeError::tensor_data(
      name,
      format!("dims {dims:?} describe more elements than fit in memory"),
    )
  })
}

/// Builds a tract tensor from the raw little-endian bytes of a typed array: the one copy of an input.
///
/// Bool bytes are normalised to 0/1 (JS may hold any byte in a Uint8Array).
pub fn tensor_from_bytes(name: &str, dtype: DType, dims: &[usize], bytes: &[u8]) -> Result<Tensor> {
  let count = element_count(name, dims)?;
  let size = dtype.element_size().expect("string tensors go through tensor_from_strings");
  if bytes.len() != count * size {
    return Err(length_mismatch(name, dims, count, bytes.len() / size));
  }
  if dtype == DType::Bool {
    // SAFETY: every value is written just below, before the tensor is read.
    let mut tensor = unsafe { Tensor::uninitialized::<bool>(dims) }.map_err(internal)?;
    let mut view = tensor.try_as_plain_ram_mut().map_err(internal)?;
    let slice = view.as_slice_mut::<bool>().map_err(internal)?;
    slice.iter_mut().zip(bytes).for_each(|(out, byte)| *out = *byte != 0);
    return Ok(tensor);
  }
  // SAFETY: `bytes` holds `count` values of `dtype` (checked above), a plain type every byte
  // pattern of which is valid (bool is handled above).
  unsafe { Tensor::from_raw_dt(dtype.datum_type(), dims, bytes) }.map_err(internal)
}

/// Builds a string tensor.
pub fn tensor_from_strings(name: &str, dims: &[usize], strings: Vec<String>) -> Result<Tensor> {
  let count = element_count(name, dims)?;
  if strings.len() != count {
    return Err(length_mismatch(name, dims, count, strings.len()));
  }
  let array = tract_onnx::prelude::tract_ndarray::ArrayD::from_shape_vec(dims, strings)
    .map_err(|e| TractNodeError::tensor_data(name, e.to_string()))?;
  Ok(array.into())
}

fn length_mismatch(name: &str, dims: &[usize], expected: usize, actual: usize) -> TractNodeError {
  TractNodeError::tensor_data(
    name,
    format!("dims {dims:?} need {expected} elements, data has {actual}"),
  )
}

fn internal(err: tract_onnx::prelude::TractError) -> TractNodeError {
  TractNodeError::Internal { reason: err.to_string() }
}

/// An output ready to cross into JS: its dtype and a tensor whose storage matches that dtype.
#[derive(Debug)]
pub struct OutputTensor {
  pub dtype: DType,
  pub tensor: Tensor,
}

/// Prepares a model output for JS: symbolic dims become int64, quantized values their storage type.
pub fn into_output(name: &str, tensor: Tensor) -> Result<OutputTensor> {
  let dt = tensor.datum_type();
  let dtype = DType::for_output(dt).ok_or_else(|| TractNodeError::Internal {
    reason: format!("output '{name}' has type {dt:?}, which has no JS representation"),
  })?;
  let tensor = match dt {
    DatumType::TDim => {
      let view = tensor.try_as_plain_ram().map_err(internal)?;
      let dims = view.as_slice::<TDim>().map_err(internal)?;
      let values =
        dims.iter().map(|d| d.to_i64()).collect::<std::result::Result<Vec<i64>, _>>().map_err(
          |_| TractNodeError::Internal {
            reason: format!("output '{name}' holds symbolic dimensions that were never resolved"),
          },
        )?;
      Tensor::from_shape(tensor.shape(), &values).map_err(internal)?
    }
    dt if dt.is_quantized() => tensor.cast_to_dt(dt.unquantized()).map_err(internal)?.into_owned(),
    _ => tensor,
  };
  Ok(OutputTensor { dtype, tensor })
}

#[cfg(feature = "binding")]
pub mod js;

#[cfg(test)]
mod tests {
  use super::*;
  use tract_onnx::prelude::Datum;

  fn slice<T: Datum + Clone>(tensor: &Tensor) -> Vec<T> {
    tensor.try_as_plain_ram().unwrap().as_slice::<T>().unwrap().to_vec()
  }

  #[test]
  fn names_round_trip() {
    for dtype in DType::ALL {
      assert_eq!(DType::from_name(dtype.name()), Some(dtype));
      assert_eq!(DType::for_output(dtype.datum_type()), Some(dtype));
    }
    assert_eq!(DType::from_name("float"), None);
  }

  #[test]
  fn bytes_become_a_tensor_with_one_copy() {
    let values = [1.5f32, -2.0, 3.25, 0.0];
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let tensor = tensor_from_bytes("x", DType::Float32, &[2, 2], &bytes).unwrap();
    assert_eq!(tensor.shape(), &[2, 2]);
    assert_eq!(slice::<f32>(&tensor), &values);
  }

  #[test]
  fn bool_bytes_are_normalised() {
    let tensor = tensor_from_bytes("b", DType::Bool, &[3], &[0, 1, 7]).unwrap();
    assert_eq!(slice::<bool>(&tensor), &[false, true, true]);
  }

  #[test]
  fn length_mismatch_is_a_tensor_data_error() {
    let err = tensor_from_bytes("x", DType::Int32, &[2, 3], &[0; 20]).unwrap_err();
    assert_eq!(err.code().as_str(), "ERR_TENSOR_DATA");
    assert_eq!(err.to_string(), "tensor 'x': dims [2, 3] need 6 elements, data has 5");
    let err = tensor_from_strings("s", &[2], vec!["a".into()]).unwrap_err();
    assert_eq!(err.code().as_str(), "ERR_TENSOR_DATA");
  }

  #[test]
  fn overflowing_dims_are_rejected() {
    let err = element_count("x", &[usize::MAX, 2]).unwrap_err();
    assert_eq!(err.code().as_str(), "ERR_TENSOR_DATA");
  }

  #[test]
  fn symbolic_outputs_become_int64() {
    let dims = tract_onnx::prelude::tract_ndarray::arr1(&[TDim::from(3), TDim::from(4)]);
    let out = into_output("shape", dims.into_dyn().into()).unwrap();
    assert_eq!(out.dtype, DType::Int64);
    assert_eq!(slice::<i64>(&out.tensor), &[3, 4]);
  }
}
