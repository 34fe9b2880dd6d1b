//! How finished jobs get back to JS: one completion port per JS environment (the main thread, or a
//! worker thread), shared by every promise of that environment.
//!
//! A port is one threadsafe function and a queue. A compute thread that finishes a job pushes the
//! settlement onto the queue and wakes the JS thread only if the queue was empty; the JS thread then
//! settles every queued promise in one turn. Compared with a threadsafe function per promise (what
//! `Env::create_deferred` does), a run costs no handle creation or teardown, and under load one
//! wake-up settles many runs.
//!
//! The port holds the event loop open only while promises are pending, like a timer: a script whose
//! last run is in flight does not exit before it settles, and an idle one exits at once.

use std::cell::RefCell;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};

use napi::bindgen_prelude::{Object, ToNapiValue};
use napi::{check_status, sys, Env, JsError};

use crate::error::js::IntoNapi;
use crate::error::{Result, TractNodeError};

/// Builds a promise's settlement on the JS thread: `Ok` resolves with the value, `Err` rejects with
/// the error value.
type Settlement = Box<dyn FnOnce(sys::napi_env) -> Result<sys::napi_value, sys::napi_value> + Send>;

/// A promise waiting for its value. `napi_deferred` is only ever used on its environment's thread.
struct Pending {
  deferred: sys::napi_deferred,
  settle: Settlement,
}

// SAFETY: the deferred is created on, and only resolved on, its environment's JS thread (by `drain`).
unsafe impl Send for Pending {}

struct Shared {
  /// `None` once the environment is gone: settlements are dropped from then on.
  tsfn: Option<TsfnHandle>,
  queue: Vec<Pending>,
}

/// The threadsafe function of a port; calling it is thread-safe while the environment lives.
struct TsfnHandle(sys::napi_threadsafe_function);

// SAFETY: napi threadsafe functions are made to be called from any thread; `Shared.tsfn` is cleared
// (under the same lock every call takes) before Node frees it.
unsafe impl Send for TsfnHandle {}

/// The settling side of a port, shared with the compute threads.
struct Port {
  shared: Mutex<Shared>,
}

impl Port {
  fn lock(&self) -> MutexGuard<'_, Shared> {
    self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
  }

  /// Queues a settlement and wakes the JS thread if it was not already due to drain the queue.
  fn push(&self, pending: Pending) {
    let mut shared = self.lock();
    let Some(tsfn) = shared.tsfn.as_ref().map(|t| t.0) else { return };
    let was_empty = shared.queue.is_empty();
    shared.queue.push(pending);
    if was_empty {
      // Non-blocking with an unbounded queue: only fails when the environment is closing, and then
      // the finalizer drops the queue. Called under the lock, so the finalizer cannot run meanwhile.
      // SAFETY: `tsfn` is live while the lock holds it (the finalizer takes it out first), and napi
      // allows this call from any thread.
      unsafe {
        sys::napi_call_threadsafe_function(
          tsfn,
          ptr::null_mut(),
          sys::ThreadsafeFunctionCallMode::nonblocking,
        )
      };
    }
  }
}

/// The JS-thread side of a port: the port, and how many of its promises are pending.
struct Local {
  env: sys::napi_env,
  port: Arc<Port>,
  tsfn: sys::napi_threadsafe_function,
  pending: usize,
}

thread_local! {
  /// This thread's port (a JS thread runs one environment at a time).
  static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Settles a promise from any thread. Dropped unused, it rejects the promise with ERR_INTERNAL, so
/// a promise never stays pending (nor holds the event loop open) because a job was lost.
pub struct Settle {
  port: Arc<Port>,
  deferred: Option<sys::napi_deferred>,
}

// SAFETY: see `Pending`.
unsafe impl Send for Settle {}

impl Settle {
  /// Resolves with the value (converted to JS on the JS thread), or rejects with the coded error.
  pub fn settle<V: ToNapiValue + Send + 'static>(mut self, outcome: Result<V>) {
    let Some(deferred) = self.deferred.take() else { return };
    let settle: Settlement = Box::new(move |env| {
      // SAFETY (both): the settlement runs on the JS thread, in `drain`, with its live `env`.
      let value = outcome
        .into_napi(&Env::from_raw(env))
        .and_then(|value| unsafe { V::to_napi_value(env, value) });
      value.map_err(|error| unsafe { JsError::from(error).into_value(env) })
    });
    self.port.push(Pending { deferred, settle });
  }
}

impl Drop for Settle {
  fn drop(&mut self) {
    if self.deferred.is_some() {
      let lost = TractNodeError::Internal { reason: "the job ended without a result".into() };
      Settle { port: self.port.clone(), deferred: self.deferred.take() }.settle::<()>(Err(lost));
    }
  }
}

/// A new promise of this environment and the handle that settles it from any thread.
pub fn promise(env: &Env) -> napi::Result<(Settle, Object<'_>)> {
  let raw_env = env.raw();
  let mut deferred = ptr::null_mut();
  let mut promise = ptr::null_mut();
  // SAFETY: `raw_env` is the live environment of this JS-thread call; napi fills both slots.
  check_status!(unsafe { sys::napi_create_promise(raw_env, &mut deferred, &mut promise) })?;
  let port = LOCAL.with(|cell| -> napi::Result<Arc<Port>> {
    let mut local = cell.borrow_mut();
    if local.as_ref().is_none_or(|l| l.env != raw_env) {
      *local = Some(open(raw_env)?);
    }
    let local = local.as_mut().expect("opened above");
    if local.pending == 0 {
      // SAFETY: `local.tsfn` belongs to `raw_env` (checked above) and is live until finalized,
      // which clears `local` first.
      check_status!(unsafe { sys::napi_ref_threadsafe_function(raw_env, local.tsfn) })?;
    }
    local.pending += 1;
    Ok(local.port.clone())
  })?;
  Ok((Settle { port, deferred: Some(deferred) }, Object::from_raw(raw_env, promise)))
}

/// Opens this environment's port: a threadsafe function that drains the queue, not holding the
/// event loop open until a promise is pending.
fn open(env: sys::napi_env) -> napi::Result<Local> {
  let port = Arc::new(Port { shared: Mutex::new(Shared { tsfn: None, queue: Vec::new() }) });
  let mut name = ptr::null_mut();
  // SAFETY: `env` is live (a JS-thread call); the name is a 17-byte C string.
  check_status!(unsafe {
    sys::napi_create_string_utf8(env, c"tract-node:settle".as_ptr(), 17, &mut name)
  })?;
  let context = Arc::into_raw(port.clone()) as *mut c_void;
  let mut tsfn = ptr::null_mut();
  // SAFETY: `env` and `name` are live; `context` is one strong count of `port`, owned by the
  // threadsafe function from here on and released by `finalize` (or just below on failure).
  let status = unsafe {
    sys::napi_create_threadsafe_function(
      env,
      ptr::null_mut(),
      ptr::null_mut(),
      name,
      0,
      1,
      context,
      Some(finalize),
      context,
      Some(drain),
      &mut tsfn,
    )
  };
  if let Err(error) = check_status!(status) {
    // SAFETY: the function was not created, so the strong count `context` holds is still ours.
    drop(unsafe { Arc::from_raw(context as *const Port) });
    return Err(error);
  }
  port.lock().tsfn = Some(TsfnHandle(tsfn));
  // SAFETY: `tsfn` was just created for `env`.
  check_status!(unsafe { sys::napi_unref_threadsafe_function(env, tsfn) })?;
  Ok(Local { env, port, tsfn, pending: 0 })
}

/// The threadsafe function's callback, on the JS thread: settles every queued promise.
unsafe extern "C" fn drain(
  env: sys::napi_env,
  _js_callback: sys::napi_value,
  context: *mut c_void,
  _data: *mut c_void,
) {
  if env.is_null() {
    return; // the environment is tearing down; `finalize` drops the queue
  }
  // SAFETY: `context` is the port's strong count the threadsafe function holds until `finalize`,
  // which cannot run while this callback does.
  let port = unsafe { &*(context as *const Port) };
  let batch = std::mem::take(&mut port.lock().queue);
  let settled = batch.len();
  for Pending { deferred, settle } in batch {
    let outcome =
      catch_unwind(AssertUnwindSafe(|| settle(env))).unwrap_or_else(|_| Err(internal_error(env)));
    // SAFETY: `deferred` was created in this environment and is settled exactly once (its
    // `Settle` was consumed); `value` and `error` are values of `env`.
    unsafe {
      match outcome {
        Ok(value) => sys::napi_resolve_deferred(env, deferred, value),
        Err(error) => sys::napi_reject_deferred(env, deferred, error),
      };
    }
  }
  LOCAL.with(|cell| {
    if let Some(local) = cell.borrow_mut().as_mut().filter(|l| l.env == env) {
      local.pending = local.pending.saturating_sub(settled);
      if local.pending == 0 {
        // SAFETY: `local.tsfn` belongs to `env` (filtered above) and is live.
        unsafe { sys::napi_unref_threadsafe_function(env, local.tsfn) };
      }
    }
  });
}

/// The rejection of a settlement that panicked.
fn internal_error(env: sys::napi_env) -> sys::napi_value {
  let error = TractNodeError::Internal { reason: "a result could not be converted to JS".into() };
  // SAFETY: called from `drain`, on the JS thread, with its live `env`.
  unsafe {
    JsError::from(crate::error::js::to_js_error(&Env::from_raw(env), &error)).into_value(env)
  }
}

/// Node finalizes the threadsafe function when the environment goes away: from then on settlements
/// are dropped (their promises belong to a dead environment).
unsafe extern "C" fn finalize(env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  // SAFETY: `data` is the strong count `open` gave the threadsafe function; this is its release.
  let port = unsafe { Arc::from_raw(data as *const Port) };
  let orphans = {
    let mut shared = port.lock();
    shared.tsfn = None;
    std::mem::take(&mut shared.queue)
  };
  drop(orphans);
  LOCAL.with(|cell| {
    let mut local = cell.borrow_mut();
    if local.as_ref().is_some_and(|l| l.env == env) {
      *local = None;
    }
  });
}
