//! The batching queue's logic, generic over what it carries so it is tested without tract or napi:
//! a bounded FIFO whose oldest request decides the next batch — every queued request with the same
//! key, in arrival order, while the rows fit — dispatched when full or when the oldest request has
//! waited `max_delay`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Batching limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
  /// Most rows (first-dim entries) in one batch; a single larger request runs alone.
  pub max_batch_size: usize,
  /// Longest the first request of a batch waits for others.
  pub max_delay: Duration,
  /// Most requests waiting; past it, requests are refused at once.
  pub max_queue: usize,
}

/// A queued request.
#[derive(Debug)]
pub struct Queued<K, T> {
  /// Requests batch together only with equal keys (dtypes and every dim but the first).
  pub key: K,
  /// Rows this request contributes (its first dim).
  pub rows: usize,
  /// When it was queued.
  pub since: Instant,
  pub item: T,
}

/// What the dispatcher should do next.
#[derive(Debug, PartialEq)]
pub enum Next<T> {
  /// Run these now, in this order.
  Run(Vec<T>),
  /// Nothing is due before this long.
  Wait(Duration),
  /// The queue is empty.
  Idle,
}

/// A bounded FIFO of requests waiting to be batched.
#[derive(Debug)]
pub struct BatchQueue<K, T> {
  limits: Limits,
  queue: VecDeque<Queued<K, T>>,
}

impl<K: PartialEq, T> BatchQueue<K, T> {
  pub fn new(limits: Limits) -> Self {
    BatchQueue { limits, queue: VecDeque::new() }
  }

  /// Requests waiting.
  pub fn len(&self) -> usize {
    self.queue.len()
  }

  /// Whether no request waits.
  pub fn is_empty(&self) -> bool {
    self.queue.is_empty()
  }

  /// Queues a request, or gives it back when `max_queue` requests already wait.
  pub fn push(&mut self, request: Queued<K, T>) -> Result<(), T> {
    if self.queue.len() >= self.limits.max_queue {
      return Err(request.item);
    }
    self.queue.push_back(request);
    Ok(())
  }

  /// Removes the requests `drop` selects (cancelled ones) and returns them.
  pub fn remove(&mut self, mut drop: impl FnMut(&T) -> bool) -> Vec<T> {
    let (dropped, kept): (Vec<_>, Vec<_>) = self.queue.drain(..).partition(|q| drop(&q.item));
    self.queue = kept.into();
    dropped.into_iter().map(|q| q.item).collect()
  }

  /// Takes the next batch if it is due at `now`.
  pub fn next(&mut self, now: Instant) -> Next<T> {
    let Some(oldest) = self.queue.front() else { return Next::Idle };
    let mut rows = 0;
    let mut members = Vec::new();
    for (index, queued) in self.queue.iter().enumerate() {
      if queued.key != oldest.key {
        continue;
      }
      if !members.is_empty() && rows + queued.rows > self.limits.max_batch_size {
        break;
      }
      rows += queued.rows;
      members.push(index);
      if rows >= self.limits.max_batch_size {
        break;
      }
    }
    let due = oldest.since + self.limits.max_delay;
    if rows < self.limits.max_batch_size && now < due {
      return Next::Wait(due - now);
    }
    // Remove from the back so earlier indices stay valid, then restore arrival order.
    let mut batch: Vec<T> =
      members.iter().rev().filter_map(|&i| self.queue.remove(i)).map(|q| q.item).collect();
    batch.reverse();
    Next::Run(batch)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn limits(max_batch_size: usize, max_queue: usize) -> Limits {
    Limits { max_batch_size, max_delay: Duration::from_millis(10), max_queue }
  }

  fn queued(
    key: &'static str,
    rows: usize,
    since: Instant,
    item: u32,
  ) -> Queued<&'static str, u32> {
    Queued { key, rows, since, item }
  }

  #[test]
  fn a_full_batch_goes_at_once_in_arrival_order() {
    let t0 = Instant::now();
    let mut q = BatchQueue::new(limits(4, 100));
    for i in 0..5 {
      q.push(queued("a", 1, t0, i)).unwrap();
    }
    assert_eq!(q.next(t0), Next::Run(vec![0, 1, 2, 3]));
    assert_eq!(q.next(t0), Next::Wait(Duration::from_millis(10)));
    assert_eq!(q.next(t0 + Duration::from_millis(10)), Next::Run(vec![4]));
    assert_eq!(q.next(t0), Next::Idle);
  }

  #[test]
  fn the_first_request_waits_at_most_max_delay() {
    let t0 = Instant::now();
    let mut q = BatchQueue::new(limits(8, 100));
    q.push(queued("a", 2, t0, 1)).unwrap();
    q.push(queued("a", 3, t0 + Duration::from_millis(4), 2)).unwrap();
    assert_eq!(q.next(t0 + Duration::from_millis(6)), Next::Wait(Duration::from_millis(4)));
    assert_eq!(q.next(t0 + Duration::from_millis(10)), Next::Run(vec![1, 2]));
  }

  #[test]
  fn only_equal_keys_batch_together_and_order_is_kept() {
    let t0 = Instant::now();
    let mut q = BatchQueue::new(limits(8, 100));
    for (i, key) in ["a", "b", "a", "b", "a"].into_iter().enumerate() {
      q.push(queued(key, 1, t0, i as u32)).unwrap();
    }
    let later = t0 + Duration::from_millis(10);
    assert_eq!(q.next(later), Next::Run(vec![0, 2, 4]));
    assert_eq!(q.next(later), Next::Run(vec![1, 3]));
  }

  #[test]
  fn rows_never_exceed_the_limit_but_a_big_request_runs_alone() {
    let t0 = Instant::now();
    let mut q = BatchQueue::new(limits(4, 100));
    q.push(queued("a", 3, t0, 1)).unwrap();
    q.push(queued("a", 2, t0, 2)).unwrap();
    q.push(queued("a", 9, t0, 3)).unwrap();
    let later = t0 + Duration::from_millis(10);
    assert_eq!(q.next(later), Next::Run(vec![1]));
    assert_eq!(q.next(later), Next::Run(vec![2]));
    assert_eq!(q.next(t0), Next::Run(vec![3]));
  }

  #[test]
  fn the_queue_is_bounded_and_cancelled_requests_leave_it() {
    let t0 = Instant::now();
    let mut q = BatchQueue::new(limits(4, 2));
    q.push(queued("a", 1, t0, 1)).unwrap();
    q.push(queued("a", 1, t0, 2)).unwrap();
    assert_eq!(q.push(queued("a", 1, t0, 3)), Err(3));
    assert_eq!(q.remove(|&item| item == 1), vec![1]);
    assert_eq!(q.len(), 1);
    q.push(queued("a", 1, t0, 4)).unwrap();
    assert_eq!(q.next(t0 + Duration::from_millis(10)), Next::Run(vec![2, 4]));
    assert!(q.is_empty());
  }
}
