//! The loops tract-node's rewritten operators run, each written once over the tiers' vector
//! registers ([`simd`]) or in plain Rust the compiler vectorises, and compiled per tier
//! (`crate::cpu::Tier`). A kernel is picked by the tier an operator was built for, never by a
//! feature check of its own; splitting work over threads goes through [`split`].

pub mod column_panels;
pub mod conv_rows;
pub mod dense_conv;
pub mod dense_product;
pub mod depthwise;
pub mod max_pool;
mod mmm_tier;
pub mod pointwise_conv;
#[cfg(target_arch = "x86_64")]
mod simd;
pub mod softmax;
pub mod split;
