//! Codecs of the protocols tract-node serves (the router is JS, `js/express.js`): KServe V2 JSON
//! tensors in and out, parsed and written in Rust so that big bodies never cross as JS objects.

mod input_data;
pub mod kserve;
