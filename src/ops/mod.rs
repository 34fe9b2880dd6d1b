//! ONNX operators and how they run, in three layers that talk downward only:
//!
//! - [`onnx`] and [`ml`]: operator builders registered into tract's ONNX parser over tract's own
//!   (ai.onnx operators tract lacks or gets wrong, and the ai.onnx.ml operators scikit-learn
//!   exports), on the shared shell of [`plain`];
//! - [`rewrite`]: graph rewrites of a typed model, entered through one [`optimize`];
//! - [`kernels`]: the loops the rewritten operators run, compiled per instruction set and picked
//!   through the CPU's tier (`crate::cpu`).

pub mod kernels;
pub mod ml;
pub mod onnx;
pub(crate) mod plain;
pub mod rewrite;

pub use onnx::parser;
pub use rewrite::optimize;
