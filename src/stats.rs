//! Per-session counters: runs, queue depth, latency percentiles and rejections. Lock-free counters
//! plus a small ring of recent latencies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How many recent latencies the percentiles are computed over.
const LATENCY_WINDOW: usize = 1024;

/// Upper bounds of the batch-size histogram buckets; a last bucket takes larger batches.
pub const BATCH_SIZE_BOUNDS: [u64; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

/// Why a run was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
  Aborted,
  Timeout,
}

/// Live counters of one session.
#[derive(Debug, Default)]
pub struct Stats {
  runs: AtomicU64,
  batches: AtomicU64,
  batched_runs: AtomicU64,
  queued: AtomicU64,
  aborted: AtomicU64,
  timeouts: AtomicU64,
  queue_full: AtomicU64,
  batch_sizes: [AtomicU64; BATCH_SIZE_BOUNDS.len() + 1],
  latencies: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
  values: Vec<f64>,
  next: usize,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
  pub runs: u64,
  pub batches: u64,
  pub mean_batch_size: f64,
  pub queue_depth: u64,
  pub p50_ms: f64,
  pub p99_ms: f64,
  pub aborted: u64,
  pub timeouts: u64,
  pub queue_full: u64,
  /// Executions per batch-size bucket (`BATCH_SIZE_BOUNDS`, then larger), not cumulative.
  pub batch_sizes: Vec<u64>,
}

impl Stats {
  /// A run entered the queue.
  pub fn queued(&self) {
    self.queued.fetch_add(1, Ordering::Relaxed);
  }

  /// A queued run left the queue (started, or was dropped).
  pub fn dequeued(&self) {
    self.queued.fetch_sub(1, Ordering::Relaxed);
  }

  /// One model execution served these requests, each after its latency (from queueing to result).
  pub fn executed(&self, latencies: impl ExactSizeIterator<Item = Duration>) {
    let runs = latencies.len() as u64;
    self.runs.fetch_add(runs, Ordering::Relaxed);
    self.batches.fetch_add(1, Ordering::Relaxed);
    self.batched_runs.fetch_add(runs, Ordering::Relaxed);
    let bucket =
      BATCH_SIZE_BOUNDS.iter().position(|&bound| runs <= bound).unwrap_or(BATCH_SIZE_BOUNDS.len());
    self.batch_sizes[bucket].fetch_add(1, Ordering::Relaxed);
    let mut ring = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
    for latency in latencies {
      let ms = latency.as_secs_f64() * 1e3;
      if ring.values.len() < LATENCY_WINDOW {
        ring.values.push(ms);
      } else {
        let at = ring.next;
        ring.values[at] = ms;
      }
      ring.next = (ring.next + 1) % LATENCY_WINDOW;
    }
  }

  /// A request was refused because the batching queue was full.
  pub fn rejected_queue_full(&self) {
    self.queue_full.fetch_add(1, Ordering::Relaxed);
  }

  /// A run was rejected.
  pub fn rejected(&self, why: Rejection) {
    let counter = match why {
      Rejection::Aborted => &self.aborted,
      Rejection::Timeout => &self.timeouts,
    };
    counter.fetch_add(1, Ordering::Relaxed);
  }

  /// The current figures.
  pub fn snapshot(&self) -> Snapshot {
    let mut latencies = self.latencies.lock().unwrap_or_else(|p| p.into_inner()).values.clone();
    latencies.sort_by(f64::total_cmp);
    let percentile = |q: f64| {
      if latencies.is_empty() {
        0.0
      } else {
        latencies[((latencies.len() - 1) as f64 * q).round() as usize]
      }
    };
    let batches = self.batches.load(Ordering::Relaxed);
    Snapshot {
      runs: self.runs.load(Ordering::Relaxed),
      batches,
      mean_batch_size: if batches == 0 {
        0.0
      } else {
        self.batched_runs.load(Ordering::Relaxed) as f64 / batches as f64
      },
      queue_depth: self.queued.load(Ordering::Relaxed),
      p50_ms: percentile(0.5),
      p99_ms: percentile(0.99),
      aborted: self.aborted.load(Ordering::Relaxed),
      timeouts: self.timeouts.load(Ordering::Relaxed),
      queue_full: self.queue_full.load(Ordering::Relaxed),
      batch_sizes: self.batch_sizes.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn counts_and_percentiles() {
    let stats = Stats::default();
    stats.queued();
    stats.queued();
    stats.dequeued();
    for ms in 1..=100 {
      stats.executed(std::iter::once(Duration::from_millis(ms)));
    }
    stats.executed([Duration::from_millis(50), Duration::from_millis(50)].into_iter());
    stats.rejected(Rejection::Timeout);
    let s = stats.snapshot();
    assert_eq!((s.runs, s.batches, s.queue_depth, s.timeouts, s.aborted), (102, 101, 1, 1, 0));
    assert!((s.mean_batch_size - 102.0 / 101.0).abs() < 1e-12);
    assert_eq!(s.batch_sizes, [100, 1, 0, 0, 0, 0, 0, 0, 0]);
    assert!((s.p50_ms - 50.5).abs() < 1.0 && (s.p99_ms - 99.0).abs() < 1.1, "{s:?}");
  }

  #[test]
  fn the_latency_window_keeps_the_most_recent() {
    let stats = Stats::default();
    stats.executed(std::iter::repeat_n(Duration::from_millis(1000), LATENCY_WINDOW));
    stats.executed(std::iter::repeat_n(Duration::from_millis(1), LATENCY_WINDOW));
    assert!((stats.snapshot().p99_ms - 1.0).abs() < 1e-9);
  }
}
