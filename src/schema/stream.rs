//! `RecordStream`: JS objects encoded a slice per event-loop turn (`js/records.js`) and read by a
//! job on the compute pool as they arrive, so that the JS thread encodes while the pool cleans.
//! The job waits when no slice is there and reads the slices that waited for it together, on
//! every compute thread; the stream ends when JS says so, or fails when JS could not encode the
//! records.

use std::sync::Mutex;

use crossbeam_channel::{Receiver, Sender};
use napi_derive::napi;

use super::js::{EncodedRecords, SliceCopy};
use super::read::encoded::{Slice, SliceStream};
use crate::error::{Result, TractNodeError};

/// What JS sends down a stream.
enum Piece {
  Slice(SliceCopy),
  End,
  Failed(String),
}

/// Records sent slice by slice to a native job reading them (see the module's doc).
#[napi]
pub struct RecordStream {
  sender: Sender<Piece>,
  receiver: Mutex<Option<Receiver<Piece>>>,
  expected: Option<usize>,
}

#[napi]
impl RecordStream {
  /// A stream of `expected` records (the length of the array JS sends), when it says.
  #[napi(constructor)]
  pub fn new(expected: Option<u32>) -> Self {
    let (sender, receiver) = crossbeam_channel::unbounded();
    let expected = expected.map(|count| count as usize);
    RecordStream { sender, receiver: Mutex::new(Some(receiver)), expected }
  }

  /// Sends a copy of the next slice; false once nothing will read it (the job that took the stream
  /// is over).
  #[napi]
  pub fn push(&self, slice: EncodedRecords) -> bool {
    self.sender.send(Piece::Slice(slice.copy())).is_ok()
  }

  /// Every slice is sent.
  #[napi]
  pub fn end(&self) {
    let _ = self.sender.send(Piece::End);
  }

  /// The records could not be encoded: the job reading the stream fails with `message`.
  #[napi]
  pub fn fail(&self, message: String) {
    let _ = self.sender.send(Piece::Failed(message));
  }
}

impl RecordStream {
  /// The reading end, for one job; an error if a job took it before.
  pub(crate) fn take(&self) -> Result<StreamInput> {
    let taken = self.receiver.lock().map(|mut receiver| receiver.take()).unwrap_or_default();
    let receiver = taken.ok_or_else(|| {
      TractNodeError::invalid_arg("records", "a record stream that no other call has read")
    })?;
    Ok(StreamInput { receiver, expected: self.expected })
  }
}

/// The reading end of a [`RecordStream`], for records `width` fields wide.
pub(crate) struct StreamInput {
  receiver: Receiver<Piece>,
  /// How many records the stream said it would carry (its array's length as sending began).
  pub expected: Option<usize>,
}

impl StreamInput {
  /// The slices, checked to be `width` fields wide.
  pub(crate) fn slices(&self, width: usize) -> impl SliceStream + '_ {
    Slices { receiver: &self.receiver, width }
  }
}

struct Slices<'r> {
  receiver: &'r Receiver<Piece>,
  width: usize,
}

impl SliceStream for Slices<'_> {
  fn each(&self, visit: &mut dyn FnMut(&[Slice<'_>])) -> Result<()> {
    loop {
      // The next piece, waiting for it, then every piece already there.
      let first = self.receiver.recv().map_err(|_| {
        TractNodeError::invalid_arg("records", "the record stream was dropped before its end")
      })?;
      let mut batch = Vec::new();
      let mut ended = false;
      for piece in std::iter::once(first).chain(self.receiver.try_iter()) {
        match piece {
          Piece::Slice(records) => batch.push(records),
          Piece::End => {
            ended = true;
            break;
          }
          Piece::Failed(message) => return Err(TractNodeError::invalid_arg("records", message)),
        }
      }
      let slices: Vec<Slice<'_>> = batch.iter().map(|records| records.view()).collect();
      if !slices.iter().all(|slice| slice.is_consistent(self.width)) {
        return Err(TractNodeError::invalid_arg("records", "slices encoded by js/records.js"));
      }
      visit(&slices);
      if ended {
        return Ok(());
      }
    }
  }
}
