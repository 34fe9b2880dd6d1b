//! The process-wide compute pool: a fixed number of native threads that run every CPU-heavy job.
//!
//! Sized to the available cores by default, or by `TRACT_NODE_THREADS`, or at run time by
//! `setComputeThreads(n)`. The JS thread only queues jobs and settles promises.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};

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
  sender: Sender<Message>,
  receiver: Receiver<Message>,
  size: Mutex<usize>,
  /// Set while one idle thread polls for work (see [`next`]).
  polling: Arc<AtomicBool>,
}

impl ComputePool {
  /// Starts a pool of `size` threads (at least one).
  pub fn new(size: usize) -> ComputePool {
    let (sender, receiver) = unbounded();
    let pool = ComputePool {
      sender,
      receiver,
      size: Mutex::new(0),
      polling: Arc::new(AtomicBool::new(false)),
    };
    pool.resize(size.max(1)).expect("initial pool size is valid");
    pool
  }

  /// Queues a job; it runs as soon as a thread is free.
  pub fn submit(&self, job: Job) {
    // The pool owns a receiver, so the channel is never disconnected.
    let _ = self.sender.send(Message::Run(job));
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
      let (receiver, polling) = (self.receiver.clone(), self.polling.clone());
      std::thread::Builder::new()
        .name(format!("tract-node-{index}"))
        .spawn(move || work(&receiver, &polling))
        .map_err(|e| TractNodeError::Internal {
          reason: format!("cannot start a compute thread: {e}"),
        })?;
    }
    for _ in threads..*size {
      let _ = self.sender.send(Message::Stop);
    }
    *size = threads;
    Ok(())
  }
}

fn work(receiver: &Receiver<Message>, polling: &AtomicBool) {
  lower_priority();
  while let Some(Message::Run(job)) = next(receiver, idle_spin(), polling) {
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

/// The next message: polled for `spin` first, so that a job queued right after the previous one
/// finished (a caller awaiting runs one after another) starts without waking a sleeping thread,
/// which costs tens of microseconds (more in a VM); then waited for. Polling yields the core
/// between checks, so a JS thread that shares it is not held up.
///
/// Only one idle thread polls at a time (`polling` is its token); the others sleep at once. With
/// every idle thread polling, a caller awaiting runs one after another kept both cores of a 2-core
/// machine busy, and the JS thread shared its core with a poller.
fn next(receiver: &Receiver<Message>, spin: Duration, polling: &AtomicBool) -> Option<Message> {
  if !spin.is_zero() && !polling.swap(true, Ordering::Acquire) {
    let deadline = Instant::now() + spin;
    let polled = loop {
      match receiver.try_recv() {
        Ok(message) => break Some(Some(message)),
        Err(TryRecvError::Disconnected) => break Some(None),
        Err(TryRecvError::Empty) if Instant::now() < deadline => std::thread::yield_now(),
        Err(TryRecvError::Empty) => break None,
      }
    };
    polling.store(false, Ordering::Release);
    if let Some(message) = polled {
      return message;
    }
  }
  receiver.recv().ok()
}

/// The environment variable that sets how many nice steps compute threads run below the JS thread
/// (0 … 19; default [`DEFAULT_NICE`]).
pub const NICE_ENV: &str = "TRACT_NODE_NICE";

/// Nice steps below the process's priority for compute threads when `TRACT_NODE_NICE` is unset.
///
/// On 2 cores with 8 runs in flight, the event loop's p99 delay stays within 1 ms of an idle loop's
/// at 10, and not at 0 (BENCHMARKS.md, case 6); below 10 it held in a quiet hour only. Inference
/// throughput is the same.
pub const DEFAULT_NICE: i32 = 10;

/// `TRACT_NODE_NICE` when it is an integer in 0..=19, else [`DEFAULT_NICE`].
fn nice_increment(env_value: Option<&str>) -> i32 {
  env_value
    .and_then(|v| v.trim().parse::<i32>().ok())
    .filter(|n| (0..=19).contains(n))
    .unwrap_or(DEFAULT_NICE)
}

/// Lowers the calling thread's priority by `TRACT_NODE_NICE` steps (on Linux, nice is per thread)
/// and shortens its time slice, so a JS thread that wakes up for a request or a timer gets a core
/// at once instead of waiting for a compute thread's time slice to end. Called by every thread
/// that computes for the JS thread: pool workers, matrix-product helpers, background plan
/// builders. Best effort.
pub(crate) fn lower_priority() {
  let increment = nice_increment(std::env::var(NICE_ENV).ok().as_deref());
  #[cfg(target_os = "linux")]
  if increment > 0 {
    // SAFETY: getpriority/setpriority on the calling thread (who = 0) touch no memory.
    let nice = unsafe {
      let nice = libc::getpriority(libc::PRIO_PROCESS, 0).saturating_add(increment).min(19);
      libc::setpriority(libc::PRIO_PROCESS, 0, nice);
      nice
    };
    ask_short_slice(nice);
  }
  #[cfg(not(target_os = "linux"))]
  let _ = increment;
}

/// The time slice compute threads ask for: the shortest Linux grants (0.1 ms).
#[cfg(target_os = "linux")]
const COMPUTE_SLICE_NS: u64 = 100_000;

/// `struct sched_attr` (its first version), as `sched_setattr(2)` and `sched_getattr(2)` use it.
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
  size: u32,
  policy: u32,
  flags: u64,
  nice: i32,
  priority: u32,
  /// For the normal policy, the thread's time slice (Linux ≥ 6.12).
  runtime: u64,
  deadline: u64,
  period: u64,
}

/// Asks the scheduler for a [`COMPUTE_SLICE_NS`] time slice for the calling thread, at `nice`.
/// Linux's scheduler (EEVDF) lets a running thread finish its slice before a thread that wakes up
/// takes its core, whatever that thread's priority: the JS thread waking for a timer or a socket
/// waited up to a default slice (1.4 ms on a 2-core Linux 6.18) behind a compute thread. Kernels
/// without custom slices (before 6.12) ignore the request. Best effort.
#[cfg(target_os = "linux")]
fn ask_short_slice(nice: i32) {
  let attr = SchedAttr {
    size: std::mem::size_of::<SchedAttr>() as u32,
    policy: libc::SCHED_OTHER as u32,
    nice,
    runtime: COMPUTE_SLICE_NS,
    ..SchedAttr::default()
  };
  // SAFETY: sched_setattr on the calling thread (pid 0) reads `attr`, alive across the call.
  unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
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

  #[cfg(target_os = "linux")]
  #[test]
  fn compute_threads_run_lower_with_a_short_slice() {
    let (before, after) = std::thread::spawn(|| {
      let attr = || {
        let mut attr = SchedAttr::default();
        let size = std::mem::size_of::<SchedAttr>() as u32;
        // SAFETY: sched_getattr on the calling thread (pid 0) writes at most `size` bytes.
        let done = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut attr, size, 0) };
        assert_eq!(done, 0, "sched_getattr");
        attr
      };
      let before = attr();
      lower_priority();
      (before, attr())
    })
    .join()
    .unwrap();
    let increment = nice_increment(std::env::var(NICE_ENV).ok().as_deref());
    assert_eq!(after.nice, (before.nice + increment).min(19));
    // Kernels without custom slices (before 6.12) report none.
    if increment > 0 && after.runtime != 0 {
      assert_eq!(after.runtime, COMPUTE_SLICE_NS);
    }
  }

  #[test]
  fn nice_defaults_to_10_and_is_bounded() {
    assert_eq!(nice_increment(None), DEFAULT_NICE);
    assert_eq!(nice_increment(Some("0")), 0);
    assert_eq!(nice_increment(Some(" 7 ")), 7);
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
    for already_polled in [false, true] {
      let (sender, receiver) = unbounded();
      let polling = Arc::new(AtomicBool::new(already_polled));
      let token = polling.clone();
      let worker = std::thread::spawn(move || {
        let message = next(&receiver, Duration::from_secs(5), &token);
        (message.is_some(), token.load(Ordering::SeqCst))
      });
      std::thread::sleep(Duration::from_millis(20));
      // The polling thread holds the token while it polls; a thread that found it taken sleeps.
      assert!(polling.load(Ordering::SeqCst));
      sender.send(Message::Stop).unwrap();
      // Either way the job is taken; the token is released only by the thread that took it.
      assert_eq!(worker.join().unwrap(), (true, already_polled));
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

pub mod intra_op;
#[cfg(feature = "binding")]
pub mod js;
pub mod partners;
#[cfg(feature = "binding")]
mod port;
