//! Dynamic batching: concurrent requests whose inputs agree on every dim but the first are
//! concatenated along dim 0, run once on the compute pool, and the outputs split back to each caller.
//! A dispatcher thread per batching session forms the batches; it never computes. What a batch
//! runs is the session's business ([`Target`]): the batcher only queues requests by key.

pub mod queue;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tract_onnx::prelude::{DatumType, TVec};

use crate::cancel::Cancellation;
use crate::error::{catch_panic, Result, TractNodeError};
use crate::pool;
use crate::stats::Stats;
use queue::{BatchQueue, Limits, Next, Queued};

/// What batches run on: a session hands the batcher this.
pub trait Target: Send + Sync + 'static {
  /// One request's inputs, ready to run.
  type Run: Send + 'static;
  /// One request's outputs.
  type Output: Send + 'static;

  /// The counters of the session the batches run for.
  fn stats(&self) -> &Stats;

  /// Runs the inputs of several requests as one batch: the outputs of each, in order.
  fn run_batch(&self, runs: Vec<Self::Run>) -> Result<Vec<Self::Output>>;
}

/// Answers one request (called exactly once, on a pool or dispatcher thread).
pub type Respond<O> = Box<dyn FnOnce(Result<O>) + Send>;

/// One request of a batching session.
pub struct Request<T: Target> {
  pub run: T::Run,
  pub cancel: Arc<Cancellation>,
  pub respond: Respond<T::Output>,
  pub since: Instant,
}

/// Requests batch together when every input has the same dtype and the same dims after the first.
pub type Key = Vec<(DatumType, TVec<usize>)>;

struct Shared<T: Target> {
  state: Mutex<State<T>>,
  wake: Condvar,
}

struct State<T: Target> {
  queue: BatchQueue<Key, Request<T>>,
  closed: bool,
}

/// The batching front of a session. Dropping it lets queued requests finish, then stops the thread.
pub struct Batcher<T: Target> {
  shared: Arc<Shared<T>>,
  target: Arc<T>,
  max_queue: usize,
}

impl<T: Target> Batcher<T> {
  /// Starts the dispatcher thread of `target`.
  pub fn start(target: Arc<T>, limits: Limits) -> Result<Batcher<T>> {
    let shared = Arc::new(Shared {
      state: Mutex::new(State { queue: BatchQueue::new(limits), closed: false }),
      wake: Condvar::new(),
    });
    let (thread_shared, thread_target) = (shared.clone(), target.clone());
    std::thread::Builder::new()
      .name("tract-node-batcher".into())
      .spawn(move || dispatch(&thread_target, &thread_shared))
      .map_err(|e| TractNodeError::Internal {
        reason: format!("cannot start the batching thread: {e}"),
      })?;
    Ok(Batcher { shared, target, max_queue: limits.max_queue })
  }

  /// Queues a request of `rows` rows whose inputs batch with those of the same `key`. Past
  /// `maxQueue` waiting requests it is answered at once with ERR_QUEUE_FULL. Every request is
  /// answered exactly once.
  pub fn submit(&self, key: Key, rows: usize, request: Request<T>) {
    let stats = self.target.stats();
    let mut state = self.lock();
    drop_cancelled(&mut state.queue, stats);
    if let Err(refused) =
      state.queue.push(Queued { key, rows, since: request.since, item: request })
    {
      drop(state);
      stats.rejected_queue_full();
      (refused.respond)(Err(TractNodeError::QueueFull { max_queue: self.max_queue }));
      return;
    }
    stats.queued();
    drop(state);
    self.shared.wake.notify_one();
  }

  fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
    self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
  }
}

impl<T: Target> Drop for Batcher<T> {
  fn drop(&mut self) {
    self.lock().closed = true;
    self.shared.wake.notify_one();
  }
}

/// Answers and counts the cancelled requests still queued (a caller answered when it cancelled
/// ignores the answer).
fn drop_cancelled<T: Target>(queue: &mut BatchQueue<Key, Request<T>>, stats: &Stats) {
  for request in queue.remove(|r| r.cancel.is_cancelled()) {
    stats.dequeued();
    let error = request.cancel.check(stats).err().unwrap_or(TractNodeError::Aborted);
    (request.respond)(Err(error));
  }
}

fn dispatch<T: Target>(target: &Arc<T>, shared: &Shared<T>) {
  loop {
    let batch = {
      let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
      loop {
        drop_cancelled(&mut state.queue, target.stats());
        // Once closed, queued requests run without waiting for company.
        let now = if state.closed {
          Instant::now() + std::time::Duration::from_secs(3600)
        } else {
          Instant::now()
        };
        match state.queue.next(now) {
          Next::Run(batch) => break batch,
          Next::Wait(delay) => {
            state = shared.wake.wait_timeout(state, delay).unwrap_or_else(|p| p.into_inner()).0
          }
          Next::Idle if state.closed => return,
          Next::Idle => state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner()),
        }
      }
    };
    batch.iter().for_each(|_| target.stats().dequeued());
    let target = target.clone();
    pool::global().submit(Box::new(move || run_batch(&*target, batch)));
  }
}

/// Runs one batch and answers each of its requests; a failure answers all of them with it.
fn run_batch<T: Target>(target: &T, batch: Vec<Request<T>>) {
  let stats = target.stats();
  let mut live = Vec::with_capacity(batch.len());
  for request in batch {
    match request.cancel.check(stats) {
      Ok(()) => live.push(request),
      Err(aborted) => (request.respond)(Err(aborted)),
    }
  }
  if live.is_empty() {
    return;
  }
  let (runs, rest): (Vec<T::Run>, Vec<_>) =
    live.into_iter().map(|r| (r.run, (r.cancel, r.respond, r.since))).unzip();
  let outcome = catch_panic(|| target.run_batch(runs));
  stats.executed(rest.iter().map(|(_, _, since)| since.elapsed()));
  match outcome {
    Ok(outputs) => {
      for ((cancel, respond, _), outputs) in rest.into_iter().zip(outputs) {
        // Cancelled while computing: the caller was answered already; drop the result.
        respond(cancel.check(stats).map(|_| outputs));
      }
    }
    Err(error) => rest.into_iter().for_each(|(_, respond, _)| respond(Err(error.clone()))),
  }
}
