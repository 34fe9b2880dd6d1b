//! JS exports of the compute pool.

use napi::Env;
use napi_derive::napi;

use crate::error::js::IntoNapi;
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
