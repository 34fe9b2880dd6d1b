//! Tasks of one operator split over the intra-op threads in runs of consecutive tasks of about the
//! same work, so that each thread keeps reading the same operands (weights of its own tiles of
//! channels) from its own cache. The direct convolutions ([`super::dense_conv`],
//! [`super::pointwise_conv`]) run their tiles this way.

use std::ops::Range;

/// Runs `run` on every task, split over the intra-op threads when the operator's `work`
/// (multiply-adds) is worth it: each thread takes a run of consecutive tasks whose `weight`s add
/// up to about the same.
pub fn for_each_task<T: Sync>(
  tasks: &[T],
  weight: impl Fn(&T) -> usize,
  work: usize,
  run: impl Fn(&T) + Sync + Send,
) {
  use rayon::prelude::*;
  use tract_linalg::multithread::{
    current_threading_element_threshold, current_tract_executor, Executor,
  };
  let threads = match current_tract_executor() {
    Executor::MultiThread(pool) => Some((pool.current_num_threads(), Some(pool))),
    Executor::RayonGlobal => Some((rayon::current_num_threads(), None)),
    Executor::SingleThread => None,
  };
  let Some((threads, pool)) = threads.filter(|&(threads, _)| {
    threads > 1 && tasks.len() > 1 && work >= current_threading_element_threshold()
  }) else {
    return tasks.iter().for_each(run);
  };
  let weights: Vec<usize> = tasks.iter().map(weight).collect();
  let parts = equal_parts(&weights, threads);
  let run_part = |part: &Range<usize>| tasks[part.clone()].iter().for_each(&run);
  match pool {
    Some(pool) => pool.install(|| parts.par_iter().for_each(run_part)),
    None => parts.par_iter().for_each(run_part),
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
}
