//! Operators of ai.onnx.ml that tract lacks, gets wrong or runs too slowly, registered into the
//! ONNX parser over tract's own.

mod array_feature_extractor;
mod binarizer;
pub mod ensemble;
mod imputer;
mod label_encoder;
mod linear;
mod map;
mod one_hot_encoder;
mod predictor;
mod scaler;
mod svm;
mod tree_op;
mod zip_map;

use tract_hir::internal::*;
use tract_onnx::pb::NodeProto;

use ensemble::PostTransform;

/// Registers these operators over tract's own.
pub fn register(reg: &mut tract_onnx::model::OnnxOpRegister) {
  tree_op::register(reg);
  scaler::register(reg);
  binarizer::register(reg);
  imputer::register(reg);
  one_hot_encoder::register(reg);
  zip_map::register(reg);
  array_feature_extractor::register(reg);
  linear::register(reg);
  svm::register(reg);
  label_encoder::register(reg);
}

/// The node's `post_transform` attribute (`NONE` when absent).
fn post_transform(node: &NodeProto) -> TractResult<PostTransform> {
  let name = node.get_attr_opt::<&str>("post_transform")?.unwrap_or("NONE");
  PostTransform::parse(name).with_context(|| format!("unknown post_transform {name:?}"))
}

/// The labels at the `winners` indices of `labels` (int64 or string), as a `[rows]` tensor.
fn pick_labels(labels: &Tensor, winners: &[usize]) -> TractResult<Tensor> {
  Ok(match labels.datum_type() {
    DatumType::String => {
      let names = labels.try_as_plain_ram()?.as_slice::<String>()?;
      tensor1(&winners.iter().map(|&w| names[w].clone()).collect::<Vec<_>>())
    }
    _ => {
      let ids = labels.try_as_plain_ram()?.as_slice::<i64>()?;
      tensor1(&winners.iter().map(|&w| ids[w]).collect::<Vec<_>>())
    }
  })
}
