//! Text in, vectors and labels out: a Hugging Face tokenizer ([`tokenizer`]) and a pipeline that
//! tokenizes, runs a transformer and pools or scores in one job ([`pipeline`]). Pure Rust;
//! `text::js` is the napi face.

#[cfg(feature = "binding")]
pub mod js;
pub mod pipeline;
pub mod tokenizer;
