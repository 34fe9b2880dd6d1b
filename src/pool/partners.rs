//! Partner threads: helpers that each stay bound to one calling thread, always take the same share
//! of its split work, and keep polling for the next share between runs before they sleep.
//!
//! A batch-1 product streams its whole weight matrix for little arithmetic. Split in fixed parts,
//! each always computed by the same thread, every part stays in its core's L2 cache from one run to
//! the next, and the product runs 3–4× faster on 2 cores than on one. That takes a helper that is
//! still awake when the next run comes: rayon's helpers go to sleep within microseconds, and waking
//! one for each product cost more than the split saved. A partner
//! polls for [`super::idle_spin`] (100 µs by default, as an idle compute thread does) after each
//! share, then sleeps until the next.

use std::cell::RefCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::Instant;

/// Work handed to a partner.
type Share = Box<dyn FnOnce() + Send>;

/// A mailbox's states. A posted share is claimed by whichever thread gets to it first: the partner
/// (`RUNNING`, then `DONE`), or the calling thread once its own share is done (back to `EMPTY`), so
/// a partner that is asleep or waiting for a core never holds the caller up.
const EMPTY: u8 = 0;
const POSTED: u8 = 1;
const RUNNING: u8 = 2;
const DONE: u8 = 3;

/// Polls between checks that only spin the CPU before one that yields it.
const SPINS_BEFORE_YIELD: u32 = 64;

/// Where a calling thread hands a share to one partner, and sees it done (`EMPTY` at first).
#[derive(Default)]
struct Mailbox {
  state: AtomicU8,
  share: Mutex<Option<Share>>,
  /// Set while the partner sleeps (or is about to): a posted share must wake it.
  asleep: AtomicBool,
  /// Set when the calling thread has gone: the partner exits.
  stop: AtomicBool,
}

/// A partner thread, seen from its calling thread.
struct Partner {
  mailbox: Arc<Mailbox>,
  thread: Thread,
}

impl Partner {
  fn start(index: usize) -> Option<Partner> {
    let mailbox = Arc::new(Mailbox::default());
    let inbox = mailbox.clone();
    let handle = std::thread::Builder::new()
      .name(format!("tract-node-partner-{index}"))
      .spawn(move || {
        super::lower_priority();
        serve(&inbox)
      })
      .ok()?;
    Some(Partner { mailbox, thread: handle.thread().clone() })
  }

  fn post(&self, share: Share) {
    *self.mailbox.share.lock().expect("partner mailbox lock") = Some(share);
    self.mailbox.state.store(POSTED, Ordering::SeqCst);
    if self.mailbox.asleep.load(Ordering::SeqCst) {
      self.thread.unpark();
    }
  }

  /// Waits for the posted share to be done, running it here if the partner has not started it.
  fn finish(&self) {
    if let Some(share) = self.mailbox.claim(EMPTY) {
      return share();
    }
    poll_until(|| self.mailbox.state.load(Ordering::Acquire) == DONE, None);
    self.mailbox.state.store(EMPTY, Ordering::Relaxed);
  }
}

impl Mailbox {
  /// Takes the posted share, moving the state to `next`; `None` if it is not posted (any more).
  fn claim(&self, next: u8) -> Option<Share> {
    self.state.compare_exchange(POSTED, next, Ordering::AcqRel, Ordering::Acquire).ok()?;
    self.share.lock().expect("partner mailbox lock").take()
  }
}

impl Drop for Partner {
  fn drop(&mut self) {
    self.mailbox.stop.store(true, Ordering::SeqCst);
    self.thread.unpark();
  }
}

/// A partner's loop: run each posted share, poll for the next for a while, then sleep.
fn serve(mailbox: &Mailbox) {
  let posted = || mailbox.state.load(Ordering::Acquire) == POSTED;
  let stopped = || mailbox.stop.load(Ordering::Acquire);
  loop {
    let deadline = Instant::now() + super::idle_spin();
    if !poll_until(|| posted() || stopped(), Some(deadline)) {
      mailbox.asleep.store(true, Ordering::SeqCst);
      while !posted() && !stopped() {
        std::thread::park();
      }
      mailbox.asleep.store(false, Ordering::SeqCst);
    }
    if stopped() {
      return;
    }
    if let Some(share) = mailbox.claim(RUNNING) {
      share();
      mailbox.state.store(DONE, Ordering::Release);
    }
  }
}

/// Polls `ready` until it holds (true) or `deadline` passes (false): spinning at first, then
/// yielding the core between checks, so a thread that shares it is not held up.
fn poll_until(ready: impl Fn() -> bool, deadline: Option<Instant>) -> bool {
  let mut spins = 0u32;
  loop {
    if ready() {
      return true;
    }
    if spins < SPINS_BEFORE_YIELD {
      spins += 1;
      std::hint::spin_loop();
      continue;
    }
    if deadline.is_some_and(|d| Instant::now() >= d) {
      return false;
    }
    std::thread::yield_now();
  }
}

thread_local! {
  /// This thread's partners, started on first use; they stop when the thread exits.
  static PARTNERS: RefCell<Vec<Rc<Partner>>> = const { RefCell::new(Vec::new()) };
}

/// Up to `count` of the calling thread's partners (fewer if no more can be started).
fn partners(count: usize) -> Vec<Rc<Partner>> {
  PARTNERS.with(|partners| {
    let mut partners = partners.borrow_mut();
    while partners.len() < count {
      match Partner::start(partners.len()) {
        Some(partner) => partners.push(Rc::new(partner)),
        None => break,
      }
    }
    partners.iter().take(count).cloned().collect()
  })
}

/// A share's result, or the panic it raised.
type Outcome<R> = std::thread::Result<R>;

/// Runs `first` on the calling thread and `others[i]` on its partner `i` at the same time, and
/// returns their results in order. Shares a partner has not started by the time `first` is done,
/// and shares without a partner (one could not be started), run on the calling thread after it. A panic in any share resumes on the calling thread once every share
/// has finished.
pub fn run_split<R: Send + 'static>(
  first: impl FnOnce() -> R,
  others: Vec<Box<dyn FnOnce() -> R + Send>>,
) -> Vec<R> {
  let partners = partners(others.len());
  let mut others = others.into_iter();
  let posted: Vec<_> = partners
    .iter()
    .zip(others.by_ref())
    .map(|(partner, share)| {
      let slot: Arc<Mutex<Option<Outcome<R>>>> = Arc::default();
      let result = slot.clone();
      partner.post(Box::new(move || {
        let outcome = catch_unwind(AssertUnwindSafe(share));
        *result.lock().expect("partner result lock") = Some(outcome);
      }));
      slot
    })
    .collect();
  let mut outcomes = vec![catch_unwind(AssertUnwindSafe(first))];
  for (partner, slot) in partners.iter().zip(posted) {
    partner.finish();
    let outcome = slot.lock().expect("partner result lock").take();
    outcomes.push(outcome.expect("a partner fills its slot before it reports done"));
  }
  outcomes.extend(others.map(|share| catch_unwind(AssertUnwindSafe(share))));
  outcomes.into_iter().map(|outcome| outcome.unwrap_or_else(|panic| resume_unwind(panic))).collect()
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::sync::atomic::AtomicUsize;

  type Share<R> = Box<dyn FnOnce() -> R + Send>;

  fn thread_name() -> String {
    std::thread::current().name().unwrap_or_default().to_string()
  }

  #[test]
  fn shares_run_at_once_on_the_same_partners_every_time() {
    std::thread::spawn(|| {
      let mut seen = Vec::new();
      for _ in 0..3 {
        // Each share waits for the others: this completes only if all three run at once.
        let arrived = Arc::new(AtomicUsize::new(0));
        let share = |arrived: Arc<AtomicUsize>| {
          move || {
            arrived.fetch_add(1, Ordering::SeqCst);
            while arrived.load(Ordering::SeqCst) < 3 {
              std::hint::spin_loop();
            }
            thread_name()
          }
        };
        let others: Vec<Share<String>> =
          vec![Box::new(share(arrived.clone())), Box::new(share(arrived.clone()))];
        seen.push(run_split(share(arrived), others));
      }
      let first = &seen[0];
      assert_eq!(first[1..], ["tract-node-partner-0", "tract-node-partner-1"]);
      assert!(seen.iter().all(|names| names == first), "{seen:?}");
    })
    .join()
    .unwrap();
  }

  #[test]
  fn a_sleeping_partner_wakes_for_the_next_share() {
    std::thread::spawn(|| {
      for pause in [0, 5, 0] {
        std::thread::sleep(std::time::Duration::from_millis(pause)); // longer than the poll
        let others: Vec<Share<u32>> = vec![Box::new(|| 2)];
        assert_eq!(run_split(|| 1, others), [1, 2]);
      }
    })
    .join()
    .unwrap();
  }

  #[test]
  fn a_panicking_share_resumes_on_the_caller_after_every_share_finished() {
    std::thread::spawn(|| {
      let finished = Arc::new(AtomicBool::new(false));
      let done = finished.clone();
      let slow: Share<()> = Box::new(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        done.store(true, Ordering::SeqCst);
      });
      let failing: Share<()> = Box::new(|| panic!("share failed"));
      let outcome = catch_unwind(AssertUnwindSafe(|| run_split(|| (), vec![slow, failing])));
      assert!(outcome.is_err());
      assert!(finished.load(Ordering::SeqCst));
      // The partners still serve.
      let others: Vec<Share<u8>> = vec![Box::new(|| 7)];
      assert_eq!(run_split(|| 6, others), [6, 7]);
    })
    .join()
    .unwrap();
  }

  #[test]
  fn a_posted_share_is_claimed_once() {
    let mailbox = Mailbox::default();
    assert!(mailbox.claim(RUNNING).is_none()); // nothing posted
    *mailbox.share.lock().unwrap() = Some(Box::new(|| ()));
    mailbox.state.store(POSTED, Ordering::SeqCst);
    // The caller takes it back: the partner then finds nothing to run.
    assert!(mailbox.claim(EMPTY).is_some());
    assert!(mailbox.claim(RUNNING).is_none());
    assert_eq!(mailbox.state.load(Ordering::SeqCst), EMPTY);
  }

  #[test]
  fn partners_stop_when_their_thread_exits() {
    let mailbox = std::thread::spawn(|| {
      let others: Vec<Share<()>> = vec![Box::new(|| ())];
      run_split(|| (), others);
      PARTNERS.with(|partners| partners.borrow()[0].mailbox.clone())
    })
    .join()
    .unwrap();
    assert!(mailbox.stop.load(Ordering::SeqCst));
    // The partner thread drops its handle on the mailbox when it returns.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while Arc::strong_count(&mailbox) > 1 && Instant::now() < deadline {
      std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(Arc::strong_count(&mailbox), 1);
  }
}
