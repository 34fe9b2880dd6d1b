//! How an operator's work is split over threads, as the thread that runs the plan provides it:
//! kernels never reach into the compute pool.
//!
//! - [`for_each_task`]: tasks split over the intra-op threads (tract's executor for the run) in
//!   runs of consecutive tasks of about the same work, so that each thread keeps reading the same
//!   operands (weights of its own tiles of channels) from its own cache; a thread done with its run
//!   takes what is left of the others'. The direct products and convolutions run their tiles this
//!   way.
//! - [`for_each_range`]: a range of items of the same work, one run of consecutive items per
//!   thread (the tree ensembles' rows).
//! - [`shares`]: work cut in a few shares that should run at once, each always on the same thread
//!   so that its part of the operands stays in that core's cache from run to run (batch-1 products
//!   by constant weights). The compute pool installs how ([`install_shares`]); without it, every
//!   share runs on the calling thread.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Runs `run` on every task, split over the intra-op threads when the operator's `work`
/// (multiply-adds) is worth it: each thread takes a run of consecutive tasks whose `weight`s add
/// up to about the same, then helps with what is left of the others' runs. A thread slowed down
/// (its core taken by another process, as in a busy VM) then holds the operator back by one
/// task, not by the rest of its run.
pub fn for_each_task<T: Sync>(
  tasks: &[T],
  weight: impl Fn(&T) -> usize,
  work: usize,
  run: impl Fn(&T) + Sync + Send,
) {
  let Some(threads) = IntraOpThreads::for_work(tasks.len(), work) else {
    return tasks.iter().for_each(run);
  };
  let weights: Vec<usize> = tasks.iter().map(weight).collect();
  let parts = equal_parts(&weights, threads.count);
  // Each run's next task not yet taken.
  let next: Vec<AtomicUsize> = parts.iter().map(|part| AtomicUsize::new(part.start)).collect();
  let owners: Vec<usize> = (0..parts.len()).collect();
  threads.run(&owners, |&owner| {
    for part in (owner..parts.len()).chain(0..owner) {
      loop {
        let index = next[part].fetch_add(1, Ordering::Relaxed);
        if index >= parts[part].end {
          break;
        }
        run(&tasks[index]);
      }
    }
  });
}

/// Runs `run` on `0..len` (items of about the same work) cut into one run of consecutive items per
/// intra-op thread when the operator's `work` is worth it, else on all of it at once: for
/// operators that do better the longer the run each call gets (a tree ensemble walks its trees
/// once per block of rows).
pub fn for_each_range(len: usize, work: usize, run: impl Fn(Range<usize>) + Sync + Send) {
  let Some(threads) = IntraOpThreads::for_work(len, work) else {
    return run(0..len);
  };
  let count = threads.count.min(len);
  let parts: Vec<Range<usize>> =
    (0..count).map(|i| i * len / count..(i + 1) * len / count).collect();
  threads.run(&parts, |part| run(part.clone()));
}

/// The intra-op threads (tract's executor for the run) that an operator's work is split over.
struct IntraOpThreads {
  count: usize,
  pool: Option<std::sync::Arc<rayon::ThreadPool>>,
}

impl IntraOpThreads {
  /// The threads for `work` (multiply-adds) in `items` pieces: `None` where one thread does it
  /// (one piece, one thread, or too little work to be worth the hand-offs).
  fn for_work(items: usize, work: usize) -> Option<IntraOpThreads> {
    use tract_linalg::multithread::{
      current_threading_element_threshold, current_tract_executor, Executor,
    };
    let (count, pool) = match current_tract_executor() {
      Executor::MultiThread(pool) => (pool.current_num_threads(), Some(pool)),
      Executor::RayonGlobal => (rayon::current_num_threads(), None),
      Executor::SingleThread => return None,
    };
    (count > 1 && items > 1 && work >= current_threading_element_threshold())
      .then_some(IntraOpThreads { count, pool })
  }

  /// Runs `run_part` on every part, at once on the threads.
  fn run<P: Sync>(&self, parts: &[P], run_part: impl Fn(&P) + Sync + Send) {
    use rayon::prelude::*;
    match &self.pool {
      Some(pool) => pool.install(|| parts.par_iter().for_each(run_part)),
      None => parts.par_iter().for_each(run_part),
    }
  }
}

/// The indices of `weights` cut into at most `parts` runs of consecutive indices, each with about
/// the same total weight.
fn equal_parts(weights: &[usize], parts: usize) -> Vec<Range<usize>> {
  let (len, total) = (weights.len(), weights.iter().sum::<usize>());
  let mut ranges = Vec::with_capacity(parts);
  let (mut start, mut done) = (0, 0);
  for (index, weight) in weights.iter().enumerate() {
    done += weight;
    if done * parts >= total * (ranges.len() + 1) {
      ranges.push(start..index + 1);
      start = index + 1;
    }
  }
  if start < len {
    ranges.push(start..len);
  }
  ranges
}

/// An output that the tasks write at once from several threads, each at its own places.
#[derive(Clone, Copy)]
pub struct SharedOutput(*mut f32);

impl SharedOutput {
  /// `values`, for tasks that write disjoint parts of it (see the `Send` and `Sync` impls).
  pub fn new(values: &mut [f32]) -> SharedOutput {
    SharedOutput(values.as_mut_ptr())
  }

  /// The output `offset` values from the first.
  ///
  /// # Safety
  /// `offset` is within the output, which is still alive.
  pub unsafe fn at(self, offset: usize) -> *mut f32 {
    // SAFETY: as the caller guarantees.
    unsafe { self.0.add(offset) }
  }
}

// SAFETY: the operators that make one give each task a disjoint part of the output (a tile of
// channels or rows × outputs), and no task reads another's.
unsafe impl Send for SharedOutput {}
unsafe impl Sync for SharedOutput {}

/// A share of an operator's work: computes its part of an f32 output.
pub type Share = Box<dyn FnOnce() -> Vec<f32> + Send>;

/// Runs shares of work at once on threads that keep their part of the operands in their caches.
pub trait Shares: Send + Sync {
  /// Whether the calling thread's run is the only one in flight: then the other cores are free
  /// for shares (otherwise a share would wait for a core, and the work is better done alone).
  fn runs_alone(&self) -> bool;

  /// Runs `shares`, the first on the calling thread and the others at once on other threads, and
  /// returns their results in order. A share that panics resumes its panic on the calling thread
  /// once every share has finished.
  fn run(&self, shares: Vec<Share>) -> Vec<Vec<f32>>;
}

/// How shares run in this process: installed by the compute pool, else on the calling thread.
pub fn shares() -> &'static dyn Shares {
  SHARES.get().copied().unwrap_or(&OnTheCallingThread)
}

/// Installs how shares run in this process (the first installation stays).
pub fn install_shares(shares: &'static dyn Shares) {
  let _ = SHARES.set(shares);
}

static SHARES: OnceLock<&'static dyn Shares> = OnceLock::new();

/// Every share on the calling thread, one after the other.
struct OnTheCallingThread;

impl Shares for OnTheCallingThread {
  fn runs_alone(&self) -> bool {
    false
  }

  fn run(&self, shares: Vec<Share>) -> Vec<Vec<f32>> {
    shares.into_iter().map(|share| share()).collect()
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn parts_have_about_the_same_weight_and_cover_every_task_once() {
    assert_eq!(equal_parts(&[1, 1, 1, 1], 2), vec![0..2, 2..4]);
    assert_eq!(equal_parts(&[3, 1, 1, 1], 2), vec![0..1, 1..4]);
    assert_eq!(equal_parts(&[2, 2, 1], 2), vec![0..2, 2..3]);
    assert_eq!(equal_parts(&[5], 2), vec![0..1]);
    assert_eq!(equal_parts(&[0, 0], 2), vec![0..1, 1..2]);
  }

  #[test]
  fn a_thread_done_with_its_run_finishes_a_stuck_thread_s() {
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};
    use tract_linalg::multithread::{multithread_tract_scope, Executor};

    let tasks: Vec<usize> = (0..64).collect();
    let runs: Vec<AtomicUsize> = tasks.iter().map(|_| AtomicUsize::new(0)).collect();
    let (last_of_first_run_done, gave_up) = (AtomicBool::new(false), AtomicBool::new(false));
    multithread_tract_scope(Executor::multithread(2), || {
      for_each_task(
        &tasks,
        |_| 1,
        usize::MAX,
        |&task| {
          runs[task].fetch_add(1, Ordering::Relaxed);
          if task == 0 {
            // Stuck until the first run's last task is done: only the other thread can do it.
            let start = Instant::now();
            while !last_of_first_run_done.load(Ordering::Acquire) {
              if start.elapsed() > Duration::from_secs(10) {
                gave_up.store(true, Ordering::Relaxed);
                break;
              }
              std::thread::yield_now();
            }
          }
          if task == 31 {
            last_of_first_run_done.store(true, Ordering::Release);
          }
        },
      )
    });
    assert!(runs.iter().all(|runs| runs.load(Ordering::Relaxed) == 1));
    assert!(!gave_up.load(Ordering::Relaxed), "the first run's other tasks waited for its thread");
  }
}
