//! Dynamic batching: concurrent requests whose inputs agree on every dim but the first are
//! concatenated along dim 0, run once on the compute pool, and the outputs split back to each caller.
//! A dispatcher thread per batching session forms the batches; it never computes.

pub mod queue;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use tract_onnx::prelude::{DatumType, TVec};

use crate::cancel::Cancellation;
use crate::error::{catch_panic, Result, TractNodeError};
use crate::pool;
use crate::session::{PreparedRun, Session};
use crate::tensor::OutputTensor;
use queue::{BatchQueue, Limits, Next, Queued};

/// Answers one request (called exactly once, on a pool or dispatcher thread).
pub type Respond = Box<dyn FnOnce(Result<Vec<(String, OutputTensor)>>) + Send>;

/// One request of a batching session.
pub struct Request {
  pub run: PreparedRun,
  pub cancel: Arc<Cancellation>,
  pub respond: Respond,
  pub since: Instant,
}

/// Requests batch together when every input has the same dtype and the same dims after the first.
type Key = Vec<(DatumType, TVec<usize>)>;

struct Shared {
  state: Mutex<State>,
  wake: Condvar,
}

struct State {
  queue: BatchQueue<Key, Request>,
  closed: bool,
}

/// The batching front of a session. Dropping it lets queued requests finish, then stops the thread.
pub struct Batcher {
  shared: Arc<Shared>,
  session: Arc<Session>,
  max_queue: usize,
}

impl Batcher {
  /// Starts the dispatcher thread of `session`.
  pub fn start(session: Arc<Session>, limits: Limits) -> Result<Batcher> {
    let shared = Arc::new(Shared {
      state: Mutex::new(State { queue: BatchQueue::new(limits), closed: false }),
      wake: Condvar::new(),
    });
    let (thread_shared, thread_session) = (shared.clone(), session.clone());
    std::thread::Builder::new()
      .name("tract-node-batcher".into())
      .spawn(move || dispatch(&thread_session, &thread_shared))
      .map_err(|e| TractNodeError::Internal {
        reason: format!("cannot start the batching thread: {e}"),
      })?;
    Ok(Batcher { shared, session, max_queue: limits.max_queue })
  }

  /// Queues a request. Past `maxQueue` waiting requests it is answered at once with
  /// ERR_QUEUE_FULL. Every request is answered exactly once.
  pub fn submit(&self, request: Request) {
    let key: Key =
      request.run.inputs().iter().map(|t| (t.datum_type(), t.shape()[1..].into())).collect();
    let rows = request.run.rows();
    let stats = self.session.stats();
    let mut state = self.lock();
    drop_cancelled(&mut state.queue, &self.session);
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

  fn lock(&self) -> std::sync::MutexGuard<'_, State> {
    self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
  }
}

impl Drop for Batcher {
  fn drop(&mut self) {
    self.lock().closed = true;
    self.shared.wake.notify_one();
  }
}

/// Answers and counts the cancelled requests still queued.
fn drop_cancelled(queue: &mut BatchQueue<Key, Request>, session: &Session) {
  for request in queue.remove(|r| r.cancel.is_cancelled()) {
    session.stats().dequeued();
    let outcome = request.cancel.check(session.stats());
    (request.respond)(outcome.map(|_| Vec::new()));
  }
}

fn dispatch(session: &Arc<Session>, shared: &Shared) {
  loop {
    let batch = {
      let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
      loop {
        drop_cancelled(&mut state.queue, session);
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
    batch.iter().for_each(|_| session.stats().dequeued());
    let session = session.clone();
    pool::global().submit(Box::new(move || run_batch(&session, batch)));
  }
}

/// Runs one batch and answers each of its requests; a failure answers all of them with it.
fn run_batch(session: &Session, batch: Vec<Request>) {
  let stats = session.stats();
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
  let (runs, rest): (Vec<PreparedRun>, Vec<_>) =
    live.into_iter().map(|r| (r.run, (r.cancel, r.respond, r.since))).unzip();
  let outcome = catch_panic(|| session.execute_batch(runs));
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
