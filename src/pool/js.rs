//! JS exports of the compute pool, and the one way JS-facing code runs work on it.

use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::Env;
use napi_derive::napi;

use crate::args::count;
use crate::error::js::IntoNapi;
use crate::error::{catch_panic, Result};

/// Sets the number of native threads that run models (default: the available cores, or the
/// `TRACT_NODE_THREADS` environment variable). Running jobs finish; queued jobs wait for a thread.
#[napi(catch_unwind)]
pub fn set_compute_threads(env: Env, threads: f64) -> napi::Result<()> {
  count("threads", threads, 1, super::MAX_THREADS)
    .and_then(|n| super::global().resize(n))
    .into_napi(&env)
}

/// The number of native threads that run models.
#[napi]
pub fn compute_threads() -> u32 {
  super::global().size() as u32
}

/// Runs `work` on the compute pool and returns a Promise of its result, converted to JS on the JS
/// thread.
pub fn spawn<'env, V>(
  env: &'env Env,
  work: impl FnOnce() -> Result<V> + Send + 'static,
) -> napi::Result<Object<'env>>
where
  V: ToNapiValue + Send + 'static,
{
  let (settle, promise) = promise(env)?;
  super::global().submit(Box::new(move || settle(catch_panic(work))));
  Ok(promise)
}

/// A Promise and the function that settles it from any thread (the value is converted to JS on the
/// JS thread). Settled through this environment's completion port ([`super::port`]).
pub fn promise<'env, V>(
  env: &'env Env,
) -> napi::Result<(impl FnOnce(Result<V>) + Send + 'static, Object<'env>)>
where
  V: ToNapiValue + Send + 'static,
{
  let (settle, promise) = super::port::promise(env)?;
  Ok((move |outcome: Result<V>| settle.settle(outcome), promise))
}
