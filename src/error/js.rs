//! The one crossing of a [`TractNodeError`] into JS: an `Error` with `message` and a stable `code`.

use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{Env, JsValue};

use super::TractNodeError;

/// Builds the JS `Error` for `err` and wraps it so napi throws (or rejects with) that exact value.
pub fn to_js_error(env: &Env, err: &TractNodeError) -> napi::Error {
  build(env, err).unwrap_or_else(|fallback| fallback)
}

fn build(env: &Env, err: &TractNodeError) -> Result<napi::Error, napi::Error> {
  let message = env.create_string(err.to_string())?;
  let mut raw = std::ptr::null_mut();
  // SAFETY: `env` is the live environment of this call, `message` a string of it, `raw` a slot
  // napi fills.
  napi::check_status!(unsafe {
    napi::sys::napi_create_error(env.raw(), std::ptr::null_mut(), message.raw(), &mut raw)
  })?;
  let mut error = Object::from_raw(env.raw(), raw);
  error.set_named_property("code", err.code().as_str())?;
  if let TractNodeError::Validation { errors } = err {
    error.set_named_property("errors", errors.clone())?;
  }
  Ok(napi::Error::from(error.to_unknown()))
}

/// Converts a core result for a JS-thread entry point.
pub trait IntoNapi<T> {
  /// Maps the error side through [`to_js_error`].
  fn into_napi(self, env: &Env) -> napi::Result<T>;
}

impl<T> IntoNapi<T> for Result<T, TractNodeError> {
  fn into_napi(self, env: &Env) -> napi::Result<T> {
    self.map_err(|err| to_js_error(env, &err))
  }
}
