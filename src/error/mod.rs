//! The one error type of tract-node.
//!
//! Every failure is a [`TractNodeError`] variant with a stable [`ErrorCode`]. Pure-Rust modules return
//! it; foreign errors (tract, io, panics) are classified once, here. The napi half of this module
//! (`error::js`) turns it into a JS `Error` carrying `code`.

#[cfg(feature = "binding")]
pub mod js;

use std::fmt;

#[cfg(feature = "binding")]
use napi_derive::napi;

/// Stable error codes, exposed to JS as `err.code` and as the `ErrorCode` constants
/// (`ErrorCode.ErrInputShape === 'ERR_INPUT_SHAPE'`).
#[cfg_attr(feature = "binding", napi(string_enum = "UPPER_SNAKE"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
  /// The model path does not exist or cannot be read.
  ErrModelNotFound,
  /// The bytes are not a valid ONNX model, or tract cannot make sense of the graph.
  ErrInvalidModel,
  /// The model uses an operator tract-node does not implement; the message names it.
  ErrUnsupportedOp,
  /// A model input was not fed.
  ErrInputMissing,
  /// A feed (or fetch) names no input (or output) of the model.
  ErrInputUnknown,
  /// A feed has the wrong element type.
  ErrInputType,
  /// A feed has the wrong rank or dimensions.
  ErrInputShape,
  /// A tensor's data does not match its type or the product of its dims.
  ErrTensorData,
  /// The session was released.
  ErrSessionReleased,
  /// The run was aborted through its AbortSignal.
  ErrAborted,
  /// The run did not finish within `timeoutMs`.
  ErrTimeout,
  /// The batching queue is full: the run was refused at once.
  ErrQueueFull,
  /// An argument or option has the wrong type or value.
  ErrInvalidArg,
  /// A run would need more memory than allowed.
  ErrResource,
  /// A schema or pipeline definition is invalid; the message names the field.
  ErrSchema,
  /// A record failed validation; `err.errors` lists every bad field.
  ErrValidation,
  /// A pipeline was used before `fit`.
  ErrNotFitted,
  /// An internal failure (a caught Rust panic, or a tract failure at run time).
  ErrInternal,
  /// (`tract-node/express`) A request body over the router's `bodyLimit`: HTTP 413.
  ErrBodyTooLarge,
  /// (`tract-node/express`) A request body that is not JSON: HTTP 415.
  ErrContentType,
  /// (`tract-node/express`) A request that came after `router.close()`: HTTP 503.
  ErrShuttingDown,
  /// `require('tract-node')` found no native binary that loads on this platform; the message
  /// names the package to install.
  ErrNativeBinding,
}

impl ErrorCode {
  /// The `ERR_*` string JS sees in `err.code`.
  pub fn as_str(self) -> &'static str {
    match self {
      ErrorCode::ErrModelNotFound => "ERR_MODEL_NOT_FOUND",
      ErrorCode::ErrInvalidModel => "ERR_INVALID_MODEL",
      ErrorCode::ErrUnsupportedOp => "ERR_UNSUPPORTED_OP",
      ErrorCode::ErrInputMissing => "ERR_INPUT_MISSING",
      ErrorCode::ErrInputUnknown => "ERR_INPUT_UNKNOWN",
      ErrorCode::ErrInputType => "ERR_INPUT_TYPE",
      ErrorCode::ErrInputShape => "ERR_INPUT_SHAPE",
      ErrorCode::ErrTensorData => "ERR_TENSOR_DATA",
      ErrorCode::ErrSessionReleased => "ERR_SESSION_RELEASED",
      ErrorCode::ErrAborted => "ERR_ABORTED",
      ErrorCode::ErrTimeout => "ERR_TIMEOUT",
      ErrorCode::ErrQueueFull => "ERR_QUEUE_FULL",
      ErrorCode::ErrInvalidArg => "ERR_INVALID_ARG",
      ErrorCode::ErrResource => "ERR_RESOURCE",
      ErrorCode::ErrSchema => "ERR_SCHEMA",
      ErrorCode::ErrValidation => "ERR_VALIDATION",
      ErrorCode::ErrNotFitted => "ERR_NOT_FITTED",
      ErrorCode::ErrInternal => "ERR_INTERNAL",
      ErrorCode::ErrBodyTooLarge => "ERR_BODY_TOO_LARGE",
      ErrorCode::ErrContentType => "ERR_CONTENT_TYPE",
      ErrorCode::ErrShuttingDown => "ERR_SHUTTING_DOWN",
      ErrorCode::ErrNativeBinding => "ERR_NATIVE_BINDING",
    }
  }
}

/// Everything that can go wrong in tract-node, with the data its message needs.
#[derive(Debug, Clone, PartialEq)]
pub enum TractNodeError {
  /// A model file could not be read.
  ModelNotFound { path: String, reason: String },
  /// The model could not be decoded or analysed.
  InvalidModel { reason: String },
  /// A tokenizer file that is not a Hugging Face `tokenizer.json` (code ERR_INVALID_MODEL).
  InvalidTokenizer { reason: String },
  /// Operators the loader does not know, as `domain.OpType` (or `OpType` for the default domain).
  UnsupportedOp { ops: Vec<String> },
  /// A model input without a feed.
  InputMissing { name: String },
  /// A feed naming no model input (`what` = "input"), or a fetch naming no output (`what` = "output").
  InputUnknown { what: &'static str, name: String, known: Vec<String> },
  /// A feed whose element type differs from the model's.
  InputType { name: String, expected: String, actual: String },
  /// A feed whose shape differs from the model's.
  InputShape { name: String, expected: String, actual: String },
  /// Input shapes for which the model cannot be built (per-shape plans only).
  ShapesUnsupported { shapes: String, reason: String },
  /// Tensor data inconsistent with its type or dims.
  TensorData { name: String, reason: String },
  /// `run` after `release`.
  SessionReleased,
  /// A run cancelled through its ticket.
  Aborted,
  /// The batching queue already holds `max_queue` requests.
  QueueFull { max_queue: usize },
  /// A wrong argument or option.
  InvalidArg { arg: String, reason: String },
  /// A tensor would exceed the memory limit.
  Resource { reason: String },
  /// A bad schema or pipeline definition.
  Schema { field: String, reason: String },
  /// Records that failed validation.
  Validation { errors: Vec<FieldError> },
  /// A pipeline used before `fit`.
  NotFitted,
  /// A caught panic or an unexpected tract failure.
  Internal { reason: String },
}

impl TractNodeError {
  /// The stable code of this error.
  pub fn code(&self) -> ErrorCode {
    match self {
      TractNodeError::ModelNotFound { .. } => ErrorCode::ErrModelNotFound,
      TractNodeError::InvalidModel { .. } | TractNodeError::InvalidTokenizer { .. } => {
        ErrorCode::ErrInvalidModel
      }
      TractNodeError::UnsupportedOp { .. } => ErrorCode::ErrUnsupportedOp,
      TractNodeError::InputMissing { .. } => ErrorCode::ErrInputMissing,
      TractNodeError::InputUnknown { .. } => ErrorCode::ErrInputUnknown,
      TractNodeError::InputType { .. } => ErrorCode::ErrInputType,
      TractNodeError::InputShape { .. } => ErrorCode::ErrInputShape,
      TractNodeError::ShapesUnsupported { .. } => ErrorCode::ErrInputShape,
      TractNodeError::TensorData { .. } => ErrorCode::ErrTensorData,
      TractNodeError::SessionReleased => ErrorCode::ErrSessionReleased,
      TractNodeError::Aborted => ErrorCode::ErrAborted,
      TractNodeError::QueueFull { .. } => ErrorCode::ErrQueueFull,
      TractNodeError::InvalidArg { .. } => ErrorCode::ErrInvalidArg,
      TractNodeError::Resource { .. } => ErrorCode::ErrResource,
      TractNodeError::Schema { .. } => ErrorCode::ErrSchema,
      TractNodeError::Validation { .. } => ErrorCode::ErrValidation,
      TractNodeError::NotFitted => ErrorCode::ErrNotFitted,
      TractNodeError::Internal { .. } => ErrorCode::ErrInternal,
    }
  }

  /// Shorthand for [`TractNodeError::InvalidArg`].
  pub fn invalid_arg(arg: impl Into<String>, reason: impl Into<String>) -> Self {
    TractNodeError::InvalidArg { arg: arg.into(), reason: reason.into() }
  }

  /// Shorthand for [`TractNodeError::TensorData`].
  pub fn tensor_data(name: impl Into<String>, reason: impl Into<String>) -> Self {
    TractNodeError::TensorData { name: name.into(), reason: reason.into() }
  }

  /// A tract failure while decoding or analysing a model.
  pub fn invalid_model(err: &tract_onnx::prelude::TractError) -> Self {
    TractNodeError::InvalidModel { reason: error_chain(err) }
  }

  /// A tract failure while running a model.
  pub fn run_failed(err: &tract_onnx::prelude::TractError) -> Self {
    TractNodeError::Internal { reason: format!("running the model failed: {}", error_chain(err)) }
  }
}

/// `outer: inner: root` — tract's errors carry their useful part in the context chain.
pub fn error_chain(err: &tract_onnx::prelude::TractError) -> String {
  err.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(": ")
}

impl fmt::Display for TractNodeError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      TractNodeError::ModelNotFound { path, reason } => {
        write!(f, "cannot read model file '{path}': {reason}")
      }
      TractNodeError::InvalidModel { reason } => write!(f, "invalid ONNX model: {reason}"),
      TractNodeError::InvalidTokenizer { reason } => {
        write!(f, "not a Hugging Face tokenizer.json: {reason}")
      }
      TractNodeError::UnsupportedOp { ops } => {
        write!(f, "the model uses operators tract-node does not support: {}", ops.join(", "))
      }
      TractNodeError::InputMissing { name } => write!(f, "input '{name}': missing from feeds"),
      TractNodeError::InputUnknown { what, name, known } => {
        write!(f, "{what} '{name}': the model has no such {what} (it has: {})", known.join(", "))
      }
      TractNodeError::InputType { name, expected, actual } => {
        write!(f, "input '{name}': expected a {expected} tensor, got {actual}")
      }
      TractNodeError::InputShape { name, expected, actual } => {
        write!(f, "input '{name}': expected shape {expected}, got {actual}")
      }
      TractNodeError::ShapesUnsupported { shapes, reason } => {
        write!(f, "the model cannot run on inputs of shapes {shapes}: {reason}")
      }
      TractNodeError::TensorData { name, reason } => write!(f, "tensor '{name}': {reason}"),
      TractNodeError::SessionReleased => write!(f, "the session was released"),
      TractNodeError::Aborted => write!(f, "the run was aborted"),
      TractNodeError::QueueFull { max_queue } => {
        write!(f, "the batching queue is full ({max_queue} runs waiting): try again later")
      }
      TractNodeError::InvalidArg { arg, reason } => write!(f, "{arg}: {reason}"),
      TractNodeError::Resource { reason } => write!(f, "not enough memory allowed: {reason}"),
      TractNodeError::Schema { field, reason } => write!(f, "field '{field}': {reason}"),
      TractNodeError::Validation { errors } => {
        let shown: Vec<String> =
          errors.iter().take(3).map(|e| format!("{}: {}", e.path, e.message)).collect();
        let more = if errors.len() > 3 {
          format!(" (and {} more)", errors.len() - 3)
        } else {
          String::new()
        };
        write!(f, "validation failed: {}{more}", shown.join("; "))
      }
      TractNodeError::NotFitted => write!(f, "the pipeline is not fitted: call fit() first"),
      TractNodeError::Internal { reason } => write!(f, "internal error: {reason}"),
    }
  }
}

impl std::error::Error for TractNodeError {}

/// Result alias of the pure-Rust core.
pub type Result<T, E = TractNodeError> = std::result::Result<T, E>;

/// A byte count in GiB, to one decimal, for [`TractNodeError::Resource`] messages.
pub(crate) fn human_bytes(bytes: u64) -> String {
  const GIB: f64 = (1u64 << 30) as f64;
  format!("{:.1} GiB", bytes as f64 / GIB)
}

/// Runs `work`, turning a panic into [`ErrorCode::ErrInternal`] (or [`ErrorCode::ErrResource`] when tract
/// failed to allocate a tensor) so that no panic ever unwinds into Node.
pub fn catch_panic<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
  std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|payload| {
    let reason = payload
      .downcast_ref::<String>()
      .map(String::as_str)
      .or_else(|| payload.downcast_ref::<&str>().copied())
      .unwrap_or("unknown panic")
      .to_string();
    // tract's tensor allocator asserts on a null allocation instead of aborting.
    if reason.starts_with("failed to allocate") {
      Err(TractNodeError::Resource { reason })
    } else {
      Err(TractNodeError::Internal { reason: format!("panic: {reason}") })
    }
  })
}

/// One validation failure: which record (`validateMany` only), which field, a Django-style code
/// and a human message.
#[cfg_attr(feature = "binding", napi_derive::napi(object, object_from_js = false))]
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
  /// Position of the record in the input (`validateMany`).
  pub index: Option<u32>,
  /// The field name; empty when the record as a whole is bad (not an object, not JSON).
  pub path: String,
  /// Django-style code: `required`, `null`, `blank`, `invalid`, `max_length`, `min_length`,
  /// `max_value`, `min_value`, `invalid_choice`, `invalid_date`, `invalid_datetime`, `unknown_field`.
  pub code: String,
  /// A human-readable explanation.
  pub message: String,
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn messages_name_the_input_and_the_expectation() {
    let err = TractNodeError::InputShape {
      name: "x".into(),
      expected: "[batch, 4]".into(),
      actual: "[2, 3]".into(),
    };
    assert_eq!(err.code().as_str(), "ERR_INPUT_SHAPE");
    assert_eq!(err.to_string(), "input 'x': expected shape [batch, 4], got [2, 3]");
  }

  #[test]
  fn panics_become_internal_errors() {
    let err = catch_panic::<()>(|| panic!("boom")).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ErrInternal);
    assert!(err.to_string().contains("boom"));
  }

  #[test]
  fn allocation_panics_become_resource_errors() {
    let err = catch_panic::<()>(|| panic!("failed to allocate Layout {{ size: 1 }}")).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ErrResource);
  }
}
