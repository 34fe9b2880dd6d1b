//! Cancellation of a queued or running request, and its accounting.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Result, TractNodeError};
use crate::stats::{Rejection, Stats};

/// Set by the JS side (abort or timeout), read by whoever is about to run or answer the request.
#[derive(Debug, Default)]
pub struct Cancellation(AtomicU8);

impl Cancellation {
  const ABORTED: u8 = 1;
  const TIMEOUT: u8 = 2;

  /// Marks the request cancelled.
  pub fn cancel(&self, why: Rejection) {
    let code = match why {
      Rejection::Aborted => Self::ABORTED,
      Rejection::Timeout => Self::TIMEOUT,
    };
    self.0.store(code, Ordering::Release);
  }

  /// Whether the request was cancelled (without consuming it).
  pub fn is_cancelled(&self) -> bool {
    self.0.load(Ordering::Acquire) != 0
  }

  /// `Err(Aborted)` if the request was cancelled, counted once in `stats`.
  pub fn check(&self, stats: &Stats) -> Result<()> {
    let why = match self.0.swap(0, Ordering::AcqRel) {
      0 => return Ok(()),
      Self::TIMEOUT => Rejection::Timeout,
      _ => Rejection::Aborted,
    };
    stats.rejected(why);
    Err(TractNodeError::Aborted)
  }
}
