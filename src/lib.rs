#![deny(clippy::all)]
//! tract-node: ONNX inference for Node.js over tract, run on a bounded native pool so the event
//! loop never blocks. The pure-Rust core builds without napi (`--no-default-features`).

pub mod args;
pub mod batching;
pub mod cancel;
pub mod cpu;
pub mod error;
pub mod features;
pub mod model;
pub mod ops;
pub mod pool;
pub mod schema;
pub mod serving;
pub mod session;
pub mod stats;
pub mod tensor;
pub mod text;

/// The addon's allocator: mimalloc keeps the addon's memory apart from Node's heap and reuses it.
/// With glibc's, each large `runSync` input left a hole in the JS thread's heap, pinned by small
/// allocations Node frees only at garbage collection, and RSS grew with every run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
