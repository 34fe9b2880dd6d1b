//! Intra-op threads: how one run splits its matrix products (`intraOpNumThreads`).
//!
//! The thread that runs a plan (a compute-pool thread, or the JS thread in `runSync`) leads its own
//! matrix-product pool: it is itself one of the pool's threads and works on its share of every
//! product, with `threads - 1` helpers that stay bound to it. The caller never sleeps while a
//! product runs, so the helpers' results reach it at once, and each helper keeps working on the
//! same rows of the same weights run after run, from its own cache. Handing every product to a
//! separate pool instead, and sleeping until it is done, cost a futex wake-up per product (a
//! fifth of BERT-mini's run on 2 threads).
//!
//! A thread leads one pool, of the first size it asks for; for another size (or when its pool
//! cannot be built) it hands its products to a pool shared per size. The helpers run at the compute
//! pool's lowered priority.
//!
//! Before a node big enough to split, the leader keeps its helpers polling ([`keep_helpers_polling`]):
//! each helper looks for work without sleeping until none has come for `TRACT_NODE_SPIN_US`
//! (100 µs), as an idle compute thread does. A sleeping helper takes a futex wake-up to join a
//! product, tens of microseconds in a VM, and products follow each other closely; onnxruntime's
//! own pool spins the same way (`TRACT_NODE_SPIN_US=0` turns it off, for comparison). Helpers stop
//! polling as soon as another run is in flight: the cores then have work anyway.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::Instant;

use rayon::{ThreadPool, ThreadPoolBuilder, Yield};
use tract_linalg::multithread::{current_tract_executor, multithread_tract_scope, Executor};

use super::partners::run_split;
use crate::ops::kernels::split::{install_shares, Share, Shares};

/// Values from which tract splits an element-wise operation (and other row-parallel work: pooling,
/// depthwise convolutions, softmax, tree ensembles), instead of its default 32,768. With the helpers
/// polling during a run (see [`keep_helpers_polling`]), a hand-off costs little: BERT-mini's
/// softmaxes and GELUs took half the time on 2 threads as at 2¹⁸.
const ELEMENTWISE_THREADING_VALUES: usize = 1 << 16;

thread_local! {
  /// The pool this thread leads, once built (`None`: it could not be built).
  static LED: OnceCell<Option<Led>> = const { OnceCell::new() };
}

/// A pool the calling thread leads: it is one of the pool's threads.
struct Led {
  pool: Arc<ThreadPool>,
  /// Helpers currently polling for work (see [`keep_helpers_polling`]).
  polling: Arc<AtomicUsize>,
}

/// Runs `f` with its matrix products split over `threads` threads (single-threaded for 1).
///
/// Every node `f` runs is split; a plan's run goes through `crate::session::gate::Gate::run`, which
/// keeps its small nodes on the calling thread.
pub fn scope<R>(threads: usize, f: impl FnOnce() -> R) -> R {
  install_shares(&IntraOpShares);
  let _running = Running::enter();
  match executor(threads) {
    Some(executor) => multithread_tract_scope(executor, f),
    None => f(),
  }
}

/// Runs `run` on each of `tasks` at once over the intra-op threads of a run with `threads` threads
/// (counted as one run in [`scope`]): each task on one thread, with tract single-threaded inside.
/// The results come in the order of `tasks`.
pub fn run_each_alone<T: Send, R: Send>(
  threads: usize,
  tasks: Vec<T>,
  run: impl Fn(T) -> R + Sync + Send,
) -> Vec<R> {
  use rayon::prelude::*;
  scope(threads, || {
    let alone = |task| multithread_tract_scope(Executor::SingleThread, || run(task));
    match current_tract_executor() {
      Executor::MultiThread(pool) => pool.install(|| tasks.into_par_iter().map(alone).collect()),
      _ => tasks.into_iter().map(alone).collect(),
    }
  })
}

/// Runs inside [`scope`] right now, on every thread.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Whether the calling thread's run is the only one inside [`scope`]: then its helpers and partners
/// have the other cores to themselves. With other runs in flight, the cores are already busy and
/// work handed to a partner would wait for a time slice.
pub fn runs_alone() -> bool {
  RUNNING.load(Ordering::Relaxed) <= 1
}

/// Counts a run in [`RUNNING`] while alive.
struct Running;

impl Running {
  fn enter() -> Running {
    RUNNING.fetch_add(1, Ordering::Relaxed);
    Running
  }
}

impl Drop for Running {
  fn drop(&mut self) {
    RUNNING.fetch_sub(1, Ordering::Relaxed);
  }
}

/// The executor for a run on the calling thread: the pool it leads when that has this size, else
/// the shared pool; `None` for one thread or when no pool can be started.
fn executor(threads: usize) -> Option<Executor> {
  if threads <= 1 {
    return None;
  }
  let led = with_led(threads, |led| Executor::MultiThread(led.pool.clone()));
  led.or_else(|| shared(threads))
}

/// `f` of the pool the calling thread leads, when it has `threads` threads (it is built on the
/// thread's first call).
fn with_led<R>(threads: usize, f: impl FnOnce(&Led) -> R) -> Option<R> {
  LED.with(|led| {
    let led = led.get_or_init(|| lead(threads)).as_ref()?;
    (led.pool.current_num_threads() == threads).then(|| f(led))
  })
}

/// A pool of `threads` threads, the calling thread being one of them.
fn lead(threads: usize) -> Option<Led> {
  let pool = builder(threads, "tract-node-helper").use_current_thread().build().ok()?;
  set_elementwise_threshold();
  Some(Led { pool: Arc::new(pool), polling: Default::default() })
}

/// Makes the helpers of the pool the calling thread leads with `threads` threads poll for work,
/// those not polling already: called before a node that will be split. A helper polls until no
/// work has come for `TRACT_NODE_SPIN_US`, or until another run is in flight. Does nothing on a
/// thread that leads no such pool, or with the spin set to 0.
pub fn keep_helpers_polling(threads: usize) {
  if super::idle_spin().is_zero() || !runs_alone() {
    return;
  }
  let leader = std::thread::current().id();
  with_led(threads, |led| {
    let missing = (threads - 1).saturating_sub(led.polling.load(Ordering::Acquire));
    for _ in 0..missing {
      led.polling.fetch_add(1, Ordering::AcqRel);
      let polling = led.polling.clone();
      led.pool.spawn(move || {
        poll_for_work(leader);
        polling.fetch_sub(1, Ordering::AcqRel);
      });
    }
  });
}

/// The pool the calling thread leads, while any of its helpers is polling for work: a part handed
/// to it starts at once, where a partner thread would share a core with the polling helper.
pub fn polling_pool() -> Option<Arc<ThreadPool>> {
  LED.with(|led| {
    let led = led.get()?.as_ref()?;
    (led.polling.load(Ordering::Acquire) > 0).then(|| led.pool.clone())
  })
}

/// On a helper: runs the pool's work as it comes, without sleeping, until none has come for the
/// idle spin or another run is in flight. On the leader (which may pick the job up while it waits
/// for a share of a product), returns at once: the leader must get back to its run.
fn poll_for_work(leader: ThreadId) {
  if std::thread::current().id() == leader {
    return;
  }
  let spin = super::idle_spin();
  let mut last_work = Instant::now();
  while runs_alone() {
    if rayon::yield_now() == Some(Yield::Executed) {
      crate::cpu::clear_upper_vectors();
      last_work = Instant::now();
    } else if last_work.elapsed() >= spin {
      return;
    } else {
      std::hint::spin_loop();
    }
  }
}

/// The pool shared by threads that do not lead one, one per thread count.
fn shared(threads: usize) -> Option<Executor> {
  static SHARED: OnceLock<Mutex<HashMap<usize, Executor>>> = OnceLock::new();
  let mut pools = SHARED.get_or_init(Default::default).lock().expect("shared pools lock");
  if let Some(executor) = pools.get(&threads) {
    return Some(executor.clone());
  }
  let executor = Executor::MultiThread(Arc::new(builder(threads, "tract-node-mm").build().ok()?));
  set_elementwise_threshold();
  pools.insert(threads, executor.clone());
  Some(executor)
}

fn builder(threads: usize, name: &'static str) -> ThreadPoolBuilder {
  ThreadPoolBuilder::new()
    .num_threads(threads)
    .thread_name(move |index| format!("{name}-{index}"))
    .start_handler(|_| super::lower_priority())
}

/// Sets [`ELEMENTWISE_THREADING_VALUES`] as tract's element-wise threshold, once a pool exists.
fn set_elementwise_threshold() {
  static THRESHOLD: OnceLock<()> = OnceLock::new();
  THRESHOLD.get_or_init(|| {
    tract_linalg::multithread::set_threading_element_threshold(ELEMENTWISE_THREADING_VALUES)
  });
}

/// How the compute pool runs an operator's shares (batch-1 products split by weights): on the
/// intra-op threads of the calling thread's run while their helpers poll for work (a partner
/// would share a core with a polling helper), on its partner threads otherwise.
struct IntraOpShares;

impl Shares for IntraOpShares {
  fn runs_alone(&self) -> bool {
    runs_alone()
  }

  fn run(&self, shares: Vec<Share>) -> Vec<Vec<f32>> {
    use rayon::prelude::*;
    if let Some(pool) = polling_pool() {
      return pool.install(|| shares.into_par_iter().map(|share| share()).collect());
    }
    let mut shares = shares.into_iter();
    let Some(first) = shares.next() else { return Vec::new() };
    run_split(first, shares.collect())
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn same_pool(a: Option<Executor>, b: Option<Executor>) -> bool {
    match (a, b) {
      (Some(Executor::MultiThread(a)), Some(Executor::MultiThread(b))) => Arc::ptr_eq(&a, &b),
      _ => false,
    }
  }

  fn pool_size(executor: Option<Executor>) -> Option<usize> {
    match executor? {
      Executor::MultiThread(pool) => Some(pool.current_num_threads()),
      _ => None,
    }
  }

  #[cfg(target_os = "linux")]
  #[test]
  fn leading_a_pool_keeps_the_leaders_priority() {
    let (before, after) = std::thread::spawn(|| {
      // SAFETY: getpriority on the calling thread (who = 0) touches no memory.
      let priority = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
      let before = priority();
      assert!(executor(2).is_some());
      (before, priority())
    })
    .join()
    .unwrap();
    assert_eq!(before, after);
  }

  #[test]
  fn polling_helpers_go_back_to_sleep_once_no_work_comes() {
    std::thread::spawn(|| {
      let polling = || with_led(2, |led| led.polling.load(Ordering::Acquire)).unwrap();
      assert!(executor(2).is_some());
      keep_helpers_polling(2);
      // The idle spin is 100 µs; other tests' runs can only end the polling sooner.
      let deadline = Instant::now() + std::time::Duration::from_secs(10);
      while polling() > 0 {
        assert!(Instant::now() < deadline, "a helper is still polling");
        std::thread::sleep(std::time::Duration::from_millis(1));
      }
      // Another size than the led pool's: nothing to keep polling.
      keep_helpers_polling(3);
      assert_eq!(polling(), 0);
    })
    .join()
    .unwrap();
  }

  #[test]
  fn shares_run_on_partners_or_on_polling_helpers_and_keep_their_order() {
    std::thread::spawn(|| {
      for polling in [false, true] {
        let got = scope(2, || {
          if polling {
            keep_helpers_polling(2);
          }
          let shares: Vec<Share> =
            (0..3).map(|i| Box::new(move || vec![i as f32; i + 1]) as Share).collect();
          IntraOpShares.run(shares)
        });
        assert_eq!(got, [vec![0.0], vec![1.0; 2], vec![2.0; 3]], "polling {polling}");
      }
    })
    .join()
    .unwrap();
  }

  #[test]
  fn one_thread_means_no_pool() {
    assert!(executor(1).is_none());
  }

  #[test]
  fn a_leading_thread_keeps_its_first_size_and_shares_others() {
    std::thread::spawn(|| {
      let led = executor(2);
      assert_eq!(pool_size(led.clone()), Some(2));
      // The same pool on every run, with this thread inside it.
      assert!(same_pool(led, executor(2)));
      assert!(rayon::current_thread_index().is_some());
      // Another size: the shared pool.
      assert_eq!(pool_size(executor(3)), Some(3));
    })
    .join()
    .unwrap();
  }

  #[test]
  fn each_thread_leads_its_own_pool_and_shares_other_sizes() {
    let on_a_thread = || std::thread::spawn(|| (executor(2), executor(3))).join().unwrap();
    let ((led_a, shared_a), (led_b, shared_b)) = (on_a_thread(), on_a_thread());
    assert!(!same_pool(led_a, led_b));
    assert!(same_pool(shared_a, shared_b));
  }
}
