#![deny(clippy::all)]
//! tract-node: ONNX inference for Node.js over tract, run on a bounded native pool so the event
//! loop never blocks. The pure-Rust core builds without napi (`--no-default-features`).

pub mod batching;
pub mod cancel;
pub mod error;
pub mod features;
pub mod kserve;
pub mod ml_ops;
pub mod model;
pub mod onnx_fixes;
pub mod ops;
pub mod pool;
pub mod schema;
pub mod session;
pub mod stats;
pub mod tensor;
