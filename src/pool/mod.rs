//! The process-wide compute pool: a fixed number of native threads that run every CPU-heavy job.
//!
//! Sized to the available cores by default, or by `TRACT_NODE_THREADS`, or at run time by
//! `setComputeThreads(n)`. The JS thread only queues jobs and settles promises.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Result, TractNodeError};

/// A unit of work for the pool. It must not panic out (the pool contains it if it does).
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// The most threads the pool may have.
pub const MAX_THREADS: usize = 1024;

/// The environment variable that sets the initial pool size.
pub const THREADS_ENV: &str = "TRACT_NODE_THREADS";

enum Message {
  Run(Job),
  Stop,
}

/// A bounded pool of worker threads fed by one FIFO queue.
pub struct ComputePool {
  queue: Arc<JobQueue>,
  size: Mutex<usize>,
}

impl ComputePool {
  /// Starts a pool of `size` threads (at least one).
  pub fn new(size: usize) -> ComputePool {
    let pool = ComputePool { queue: Arc::default(), size: Mutex::new(0) };
    pool.resize(size.max(1)).expect("initial pool size is valid");
    pool
  }

  /// Queues a job; it runs as soon as a thread is free.
  pub fn submit(&self, job: Job) {
    self.queue.push(Message::Run(job));
  }

  /// Current number of threads.
  pub fn size(&self) -> usize {
    *self.size.lock().expect("pool size lock")
  }

  /// Grows or shrinks the pool. Shrinking lets running and already queued jobs finish.
  pub fn resize(&self, threads: usize) -> Result<()> {
    if !(1..=MAX_THREADS).contains(&threads) {
      return Err(TractNodeError::invalid_arg(
        "threads",
        format!("expected an integer between 1 and {MAX_THREADS}, got {threads}"),
      ));
    }
    let mut size = self.size.lock().expect("pool size lock");
    for index in *size..threads {
      let queue = self.queue.clone();
      std::thread::Builder::new()
        .name(format!("tract-node-{index}"))
        .spawn(move || work(&queue))
        .map_err(|e| TractNodeError::Internal {
        reason: format!("cannot start a compute thread: {e}"),
      })?;
    }
    for _ in threads..*size {
      self.queue.push(Message::Stop);
    }
    *size = threads;
    Ok(())
  }
}

fn work(queue: &JobQueue) {
  lower_priority();
  while let Message::Run(job) = queue.next(idle_spin()) {
    // Jobs catch their own panics to report them; this only keeps the thread alive regardless.
    let _ = catch_unwind(AssertUnwindSafe(job));
  }
}

/// The environment variable that sets how long an idle compute thread (or partner thread, see
/// [`partners`]) polls for work before it sleeps, in microseconds (default 100; 0 sleeps at once).
pub const SPIN_ENV: &str = "TRACT_NODE_SPIN_US";

/// How long an idle thread polls for work before it sleeps: `TRACT_NODE_SPIN_US`, read once.
pub(crate) fn idle_spin() -> Duration {
  static SPIN: OnceLock<Duration> = OnceLock::new();
  *SPIN.get_or_init(|| spin_duration(std::env::var(SPIN_ENV).ok().as_deref()))
}

/// `TRACT_NODE_SPIN_US` when it is an integer in 0..=10,000, else 100 µs.
fn spin_duration(env_value: Option<&str>) -> Duration {
  let micros = env_value.and_then(|v| v.trim().parse::<u64>().ok()).filter(|&us| us <= 10_000);
  Duration::from_micros(micros.unwrap_or(100))
}

/// The pool's queue, and how idle threads wait on it.
///
/// An idle thread first polls the queue for `TRACT_NODE_SPIN_US`, so that a job queued right after
/// the previous one finished (a caller awaiting runs one after another) starts without waking a
/// sleeping thread, which costs tens of microseconds (more in a VM). Polling yields the core
/// between checks, so a JS thread that shares it is not held up.
///
/// Only one idle thread polls at a time (`polling` is its token); the others sleep, and a new job
/// wakes one of them only when no thread polls. With every idle thread polling, a caller awaiting
/// runs one after another kept both cores of a 2-core machine busy, and the JS thread shared its
/// core with a poller: `await run()` of a tiny model took 38–43 µs (medians of 4 processes) against
/// 35–39 µs with one poller. And with every new job waking a sleeper too (a channel does), the
/// sleeper often took the job from the poller, so a caller's runs alternated between threads, each
/// with its own intra-op helpers and partners to wake and caches to warm: the MLP 784-512-512-10 at
/// batch 1 on 2 intra-op threads took 0.110 ms per `await run()` against 0.062 ms with one thread
/// in the pool.
#[derive(Default)]
struct JobQueue {
  messages: Mutex<VecDeque<Message>>,
  /// How many messages are queued, read without the lock: the poller takes the lock only when
  /// there is something to take, so it never holds up a `push` from the JS thread.
  queued: AtomicUsize,
  ready: Condvar,
  polling: AtomicBool,
}

impl JobQueue {
  fn lock(&self) -> MutexGuard<'_, VecDeque<Message>> {
    self.messages.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
  }

  /// Queues `message`, waking a sleeping thread unless one polls.
  fn push(&self, message: Message) {
    let mut messages = self.lock();
    messages.push_back(message);
    self.queued.store(messages.len(), Ordering::SeqCst);
    drop(messages);
    if !self.polling.load(Ordering::SeqCst) {
      self.ready.notify_one();
    }
  }

  /// The next message, after the queue's own lock: waking another thread when more are queued
  /// (a thread that polls takes one job, and the jobs queued behind it must not wait for it).
  fn pop(&self, mut messages: MutexGuard<'_, VecDeque<Message>>) -> Option<Message> {
    let message = messages.pop_front()?;
    self.queued.store(messages.len(), Ordering::SeqCst);
    if !messages.is_empty() {
      self.ready.notify_one();
    }
    Some(message)
  }

  /// The next message for an idle thread: polled for `spin` by the thread holding the polling
  /// token, then waited for.
  fn next(&self, spin: Duration) -> Message {
    if !spin.is_zero() && !self.polling.swap(true, Ordering::SeqCst) {
      let deadline = Instant::now() + spin;
      let polled = loop {
        let queued = self.queued.load(Ordering::SeqCst) > 0;
        match queued.then(|| self.pop(self.lock())).flatten() {
          Some(message) => break Some(message),
          None if Instant::now() < deadline => std::thread::yield_now(),
          None => break None,
        }
      };
      // Released before sleeping: a job pushed from now on wakes a sleeper, and one pushed while
      // the token was still held is found below, under the lock, before this thread sleeps.
      self.polling.store(false, Ordering::SeqCst);
      if let Some(message) = polled {
        return message;
      }
    }
    let mut messages = self.lock();
    loop {
      if !messages.is_empty() {
        return self.pop(messages).expect("a queued message");
      }
      messages = self.ready.wait(messages).unwrap_or_else(|poisoned| poisoned.into_inner());
    }
  }
}

/// The environment variable that sets how many nice steps compute threads run below the JS thread
/// (0 … 19; default [`DEFAULT_NICE`]).
pub const NICE_ENV: &str = "TRACT_NODE_NICE";

/// Nice steps below the process's priority for compute threads when `TRACT_NODE_NICE` is unset.
///
/// On 2 cores with 8 runs in flight, the event loop's p99 delay is 4.2–4.9 ms at 0 and 2.0 ms at
/// 5, against 1.2 ms idle (BENCHMARKS.md, case 6); below 5 the gain is not reliable (2.2–2.9 ms
/// at 3).
pub const DEFAULT_NICE: i32 = 5;

/// `TRACT_NODE_NICE` when it is an integer in 0..=19, else [`DEFAULT_NICE`].
fn nice_increment(env_value: Option<&str>) -> i32 {
  env_value
    .and_then(|v| v.trim().parse::<i32>().ok())
    .filter(|n| (0..=19).contains(n))
    .unwrap_or(DEFAULT_NICE)
}

/// Lowers the calling thread's priority by `TRACT_NODE_NICE` steps (on Linux, nice is per thread),
/// so a JS thread that wakes up for a request or a timer gets a core at once instead of waiting for
/// a compute thread's time slice to end. Called by every thread that computes for the JS thread:
/// pool workers, matrix-product helpers, background plan builders. Best effort.
pub(crate) fn lower_priority() {
  let increment = nice_increment(std::env::var(NICE_ENV).ok().as_deref());
  #[cfg(target_os = "linux")]
  if increment > 0 {
    // SAFETY: getpriority/setpriority on the calling thread (who = 0) touch no memory.
    unsafe {
      let current = libc::getpriority(libc::PRIO_PROCESS, 0);
      libc::setpriority(libc::PRIO_PROCESS, 0, current.saturating_add(increment));
    }
  }
  #[cfg(not(target_os = "linux"))]
  let _ = increment;
}

/// The process-wide pool, started on first use.
pub fn global() -> &'static ComputePool {
  static POOL: OnceLock<ComputePool> = OnceLock::new();
  POOL.get_or_init(|| ComputePool::new(default_size(std::env::var(THREADS_ENV).ok().as_deref())))
}

/// `TRACT_NODE_THREADS` when it is a valid count, else the available cores.
fn default_size(env_value: Option<&str>) -> usize {
  env_value
    .and_then(|v| v.trim().parse::<usize>().ok())
    .filter(|n| (1..=MAX_THREADS).contains(n))
    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::sync::atomic::{AtomicUsize, Ordering};
  use std::sync::{Arc, Barrier};
  use std::time::Duration;

  #[test]
  fn jobs_run_in_parallel_up_to_the_pool_size() {
    let pool = ComputePool::new(3);
    // Three jobs that each wait for the other two: only completes if all three run at once.
    let barrier = Arc::new(Barrier::new(3));
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    for _ in 0..3 {
      let (barrier, done_tx) = (barrier.clone(), done_tx.clone());
      pool.submit(Box::new(move || {
        barrier.wait();
        done_tx.send(()).unwrap();
      }));
    }
    for _ in 0..3 {
      done_rx.recv_timeout(Duration::from_secs(10)).expect("jobs ran concurrently");
    }
  }

  #[test]
  fn a_panicking_job_does_not_kill_its_thread() {
    let pool = ComputePool::new(1);
    pool.submit(Box::new(|| panic!("job failure")));
    let ran = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let counter = ran.clone();
    pool.submit(Box::new(move || {
      counter.fetch_add(1, Ordering::SeqCst);
      done_tx.send(()).unwrap();
    }));
    done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
  }

  #[test]
  fn resize_checks_bounds_and_shrinks() {
    let pool = ComputePool::new(4);
    pool.resize(2).unwrap();
    assert_eq!(pool.size(), 2);
    assert_eq!(pool.resize(0).unwrap_err().code().as_str(), "ERR_INVALID_ARG");
  }

  #[test]
  fn nice_defaults_to_5_and_is_bounded() {
    assert_eq!(nice_increment(None), DEFAULT_NICE);
    assert_eq!(nice_increment(Some("0")), 0);
    assert_eq!(nice_increment(Some(" 10 ")), 10);
    assert_eq!(nice_increment(Some("20")), DEFAULT_NICE);
    assert_eq!(nice_increment(Some("-5")), DEFAULT_NICE);
  }

  #[test]
  fn spin_defaults_to_100_us_and_is_bounded() {
    assert_eq!(spin_duration(None), Duration::from_micros(100));
    assert_eq!(spin_duration(Some("0")), Duration::ZERO);
    assert_eq!(spin_duration(Some(" 250 ")), Duration::from_micros(250));
    assert_eq!(spin_duration(Some("20000")), Duration::from_micros(100));
    assert_eq!(spin_duration(Some("fast")), Duration::from_micros(100));
  }

  #[test]
  fn one_idle_thread_polls_and_gives_the_token_back() {
    let queue = Arc::new(JobQueue::default());
    let next = |queue: &Arc<JobQueue>| {
      let queue = queue.clone();
      std::thread::spawn(move || matches!(queue.next(Duration::from_secs(5)), Message::Stop))
    };
    let poller = next(&queue);
    std::thread::sleep(Duration::from_millis(20));
    // The polling thread holds the token while it polls, and takes the job; then gives it back.
    assert!(queue.polling.load(Ordering::SeqCst));
    queue.push(Message::Stop);
    assert!(poller.join().unwrap());
    assert!(!queue.polling.load(Ordering::SeqCst));
    // With the token taken, an idle thread sleeps: a job queued meanwhile is left to the poller.
    queue.polling.store(true, Ordering::SeqCst);
    let sleeper = next(&queue);
    std::thread::sleep(Duration::from_millis(20));
    queue.push(Message::Stop);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(queue.lock().len(), 1);
    // Once no thread polls, a new job wakes the sleeper, which takes the oldest.
    queue.polling.store(false, Ordering::SeqCst);
    queue.push(Message::Run(Box::new(|| {})));
    assert!(sleeper.join().unwrap());
    assert!(matches!(queue.lock().pop_front(), Some(Message::Run(_))));
  }

  #[test]
  fn jobs_queued_behind_a_polled_one_wake_sleeping_threads() {
    let pool = ComputePool::new(3);
    std::thread::sleep(Duration::from_millis(20)); // one thread polls, two sleep
                                                   // Three jobs at once that each wait for the other two: the poller takes one, and the two
                                                   // queued behind it must wake the sleepers.
    let barrier = Arc::new(Barrier::new(3));
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    for _ in 0..3 {
      let (barrier, done_tx) = (barrier.clone(), done_tx.clone());
      pool.submit(Box::new(move || {
        barrier.wait();
        done_tx.send(()).unwrap();
      }));
    }
    for _ in 0..3 {
      done_rx.recv_timeout(Duration::from_secs(10)).expect("the sleepers woke");
    }
  }

  #[test]
  fn env_value_sets_the_default_size() {
    assert_eq!(default_size(Some("3")), 3);
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(default_size(Some("zero")), cores);
    assert_eq!(default_size(Some("0")), cores);
    assert_eq!(default_size(None), cores);
  }
}

pub mod gate;
pub mod intra_op;
#[cfg(feature = "binding")]
pub mod js;
pub mod partners;
#[cfg(feature = "binding")]
mod port;
