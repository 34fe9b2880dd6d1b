//! JS exports of the compute pool, and the one way JS-facing code runs work on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::Env;
use napi_derive::napi;

use crate::error::js::IntoNapi;
use crate::error::{catch_panic, Result, TractNodeError};
use crate::session::options::count;

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
/// thread. With a `cancelled` flag set before the work starts, the work never runs; set while it
/// runs, its result is dropped. Either way the Promise rejects with `ERR_ABORTED`.
pub fn spawn<'env, V>(
  env: &'env Env,
  cancelled: Option<Arc<AtomicBool>>,
  work: impl FnOnce() -> Result<V> + Send + 'static,
) -> napi::Result<Object<'env>>
where
  V: ToNapiValue + Send + 'static,
{
  let (deferred, promise) = env.create_deferred()?;
  let is_cancelled = move || cancelled.as_ref().is_some_and(|c| c.load(Ordering::Acquire));
  super::global().submit(Box::new(move || {
    let outcome = if is_cancelled() { Err(TractNodeError::Aborted) } else { catch_panic(work) };
    deferred.resolve(move |env: Env| {
      if is_cancelled() { Err(TractNodeError::Aborted) } else { outcome }.into_napi(&env)
    });
  }));
  Ok(promise)
}
