//! JS ⇄ tensor: reads `{ type, dims, data }` objects (the `Tensor` class or any look-alike) and
//! builds them back for outputs. Input data is copied once, into the tract tensor; output data is
//! handed to JS without a copy (an external ArrayBuffer that owns the tract tensor).

use napi::bindgen_prelude::{
  ArrayBuffer, FromNapiValue, JsObjectValue, Object, ToNapiValue, TypedArray, TypedArrayType,
  Unknown,
};
use napi::{sys, Env, JsValue, ValueType};
use tract_onnx::prelude::Tensor;

use super::{tensor_from_bytes, tensor_from_strings, DType, OutputTensor};
use crate::error::{human_bytes, Result, TractNodeError};

/// The largest dim JS can express exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Reads the feed `name` into a tract tensor.
pub fn tensor_from_js(name: &str, value: Unknown<'_>) -> Result<Tensor> {
  let not_a_tensor = || {
    TractNodeError::invalid_arg(format!("feeds.{name}"), "expected a Tensor ({ type, dims, data })")
  };
  if value.get_type().ok() != Some(ValueType::Object) {
    return Err(not_a_tensor());
  }
  // SAFETY: `value` is an object (checked above), in this call's scope.
  let object: Object<'_> = unsafe { value.cast() }.map_err(|_| not_a_tensor())?;
  let type_name: String = property(&object, "type").ok_or_else(not_a_tensor)?;
  let dtype = DType::from_name(&type_name)
    .ok_or_else(|| TractNodeError::tensor_data(name, format!("unknown type '{type_name}'")))?;
  let dims = read_dims(name, &object)?;
  let data: Unknown<'_> = property(&object, "data").ok_or_else(not_a_tensor)?;
  // SAFETY (both casts): `data` is an array, or a typed array, as checked just before each.
  if dtype == DType::String {
    let strings: Vec<String> = (data.is_array().unwrap_or(false))
      .then(|| unsafe { data.cast() }.ok())
      .flatten()
      .ok_or_else(|| {
        TractNodeError::tensor_data(name, "a string tensor's data must be an array of strings")
      })?;
    return tensor_from_strings(name, &dims, strings);
  }
  let array = (data.is_typedarray().unwrap_or(false))
    .then(|| unsafe { data.cast::<TypedArray<'_>>() }.ok())
    .flatten()
    .ok_or_else(|| {
      TractNodeError::tensor_data(
        name,
        format!("a {type_name} tensor's data must be a {}", expected_array(dtype)),
      )
    })?;
  if !array_fits(dtype, array.typed_array_type) {
    return Err(TractNodeError::tensor_data(
      name,
      format!(
        "a {type_name} tensor's data must be a {}, got {}",
        expected_array(dtype),
        array_name(array.typed_array_type)
      ),
    ));
  }
  tensor_from_bytes(name, dtype, &dims, &array.arraybuffer)
}

fn property<T: FromNapiValue>(object: &Object<'_>, key: &str) -> Option<T> {
  object.get::<T>(key).ok().flatten()
}

fn read_dims(name: &str, object: &Object<'_>) -> Result<Vec<usize>> {
  let invalid =
    || TractNodeError::tensor_data(name, "dims must be an array of non-negative integers");
  let dims: Vec<f64> = property(object, "dims").ok_or_else(invalid)?;
  dims
    .into_iter()
    .map(|d| {
      (d.is_finite() && d.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(&d))
        .then_some(d as usize)
    })
    .collect::<Option<_>>()
    .ok_or_else(invalid)
}

/// The typed array kinds that can carry a dtype (onnxruntime-node's table).
fn array_fits(dtype: DType, kind: TypedArrayType) -> bool {
  use TypedArrayType as K;
  matches!(
    (dtype, kind),
    (DType::Float32, K::Float32)
      | (DType::Float64, K::Float64)
      | (DType::Float16, K::Uint16)
      | (DType::Int8, K::Int8)
      | (DType::Uint8 | DType::Bool, K::Uint8 | K::Uint8Clamped)
      | (DType::Int16, K::Int16)
      | (DType::Uint16, K::Uint16)
      | (DType::Int32, K::Int32)
      | (DType::Uint32, K::Uint32)
      | (DType::Int64, K::BigInt64)
      | (DType::Uint64, K::BigUint64)
  )
}

/// The typed array kind outputs of a dtype come back as (and the one named in errors); strings
/// travel as plain arrays.
fn output_kind(dtype: DType) -> Option<TypedArrayType> {
  Some(match dtype {
    DType::String => return None,
    DType::Float32 => TypedArrayType::Float32,
    DType::Float64 => TypedArrayType::Float64,
    DType::Float16 | DType::Uint16 => TypedArrayType::Uint16,
    DType::Int8 => TypedArrayType::Int8,
    DType::Uint8 | DType::Bool => TypedArrayType::Uint8,
    DType::Int16 => TypedArrayType::Int16,
    DType::Int32 => TypedArrayType::Int32,
    DType::Uint32 => TypedArrayType::Uint32,
    DType::Int64 => TypedArrayType::BigInt64,
    DType::Uint64 => TypedArrayType::BigUint64,
  })
}

fn expected_array(dtype: DType) -> &'static str {
  output_kind(dtype).map_or("array of strings", array_name)
}

fn array_name(kind: TypedArrayType) -> &'static str {
  match kind {
    TypedArrayType::Int8 => "Int8Array",
    TypedArrayType::Uint8 => "Uint8Array",
    TypedArrayType::Uint8Clamped => "Uint8ClampedArray",
    TypedArrayType::Int16 => "Int16Array",
    TypedArrayType::Uint16 => "Uint16Array",
    TypedArrayType::Int32 => "Int32Array",
    TypedArrayType::Uint32 => "Uint32Array",
    TypedArrayType::Float32 => "Float32Array",
    TypedArrayType::Float64 => "Float64Array",
    TypedArrayType::BigInt64 => "BigInt64Array",
    TypedArrayType::BigUint64 => "BigUint64Array",
    _ => "another typed array",
  }
}

/// Named outputs of a run, converted to `{ [name]: { type, dims, data } }` on the JS thread.
pub struct JsOutputs(pub Vec<(String, OutputTensor)>);

impl ToNapiValue for JsOutputs {
  unsafe fn to_napi_value(raw_env: sys::napi_env, outputs: Self) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let mut result = Object::new(&env)?;
    for (name, output) in outputs.0 {
      let bytes = output.tensor.len() * output.dtype.element_size().unwrap_or(1);
      let tensor =
        output_to_js(&env, output).map_err(|e| not_handed_over(&env, &name, bytes, e))?;
      result.set_named_property(&name, tensor)?;
    }
    Ok(result.raw())
  }
}

/// The coded error for an output JS could not take (V8 refused the external ArrayBuffer of a
/// 7.5 GiB output), with the exception the failed conversion left pending cleared: a pending
/// exception would keep the promise from settling at all.
fn not_handed_over(env: &Env, name: &str, bytes: usize, error: napi::Error) -> napi::Error {
  let mut pending = false;
  // SAFETY: plain N-API calls on the JS thread's env.
  unsafe {
    sys::napi_is_exception_pending(env.raw(), &mut pending);
    if pending {
      let mut exception = std::ptr::null_mut();
      sys::napi_get_and_clear_last_exception(env.raw(), &mut exception);
    }
  }
  let size = human_bytes(bytes as u64);
  let reason = format!("output '{name}' ({size}) could not be handed to JS: {}", error.reason);
  crate::error::js::to_js_error(env, &TractNodeError::Resource { reason })
}

fn output_to_js(env: &Env, output: OutputTensor) -> napi::Result<Object<'_>> {
  let OutputTensor { dtype, mut tensor } = output;
  let dims = tensor.shape().to_vec();
  let Some(kind) = output_kind(dtype) else {
    let strings = plain(&tensor)?.as_slice::<String>().map_err(reason)?.to_vec();
    return tensor_object(env, dtype, &dims, strings);
  };
  plain(&tensor)?;
  let length = tensor.len();
  let byte_length = length * dtype.element_size().unwrap_or(1);
  let buffer = if byte_length == 0 {
    ArrayBuffer::from_data(env, Vec::new())?
  } else {
    let data = tensor.as_bytes_mut().as_mut_ptr();
    // The ArrayBuffer borrows the tensor's storage and drops the tensor when JS collects it.
    // SAFETY: `data` points at `byte_length` bytes the tensor owns; the tensor moves into the
    // finaliser, so the storage lives exactly as long as the buffer.
    unsafe { ArrayBuffer::from_external(env, data, byte_length, tensor, |_, tensor| drop(tensor)) }?
  };
  let mut typed_array = std::ptr::null_mut();
  // SAFETY: `buffer` holds `length` elements of `kind`; `typed_array` is filled by napi and is a
  // live value of `env` for `from_raw_unchecked`.
  napi::check_status!(unsafe {
    sys::napi_create_typedarray(env.raw(), kind as i32, length, buffer.raw(), 0, &mut typed_array)
  })?;
  tensor_object(env, dtype, &dims, unsafe { Unknown::from_raw_unchecked(env.raw(), typed_array) })
}

/// `{ type, dims, data }`, the shape of every tensor handed to JS.
pub fn tensor_object<'env>(
  env: &'env Env,
  dtype: DType,
  dims: &[usize],
  data: impl ToNapiValue,
) -> napi::Result<Object<'env>> {
  let mut object = Object::new(env)?;
  object.set_named_property("type", dtype.name())?;
  object.set_named_property("dims", dims.iter().map(|&d| d as f64).collect::<Vec<f64>>())?;
  object.set_named_property("data", data)?;
  Ok(object)
}

fn plain(tensor: &Tensor) -> napi::Result<tract_onnx::prelude::PlainView<'_>> {
  tensor.try_as_plain_ram().map_err(reason)
}

fn reason(err: tract_onnx::prelude::TractError) -> napi::Error {
  napi::Error::from_reason(err.to_string())
}
