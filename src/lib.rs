#![deny(clippy::all)]
//! tract-node: ONNX inference for Node.js over tract, run on a bounded native pool so the event
//! loop never blocks. The pure-Rust core builds without napi (`--no-default-features`).

pub mod batching;
pub mod cancel;
pub mod cpu;
pub mod error;
pub mod features;
pub mod kserve;
pub mod model;
pub mod ops;
pub mod pool;
pub mod schema;
pub mod session;
pub mod stats;
pub mod tensor;

/// The addon's allocator. With glibc's, a `runSync` of a large input left a hole of the input's
/// size in the JS thread's heap every run (an aligned allocation, freed, then pinned by a small
/// allocation Node frees only at garbage collection): RSS grew by 200 KB per run of a 64 × 784
/// input until V8 collected, and every run faulted in fresh pages. mimalloc keeps the addon's
/// memory apart from Node's and reuses it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
