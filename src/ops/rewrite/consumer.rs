//! The operator that follows a node, as the rewrites that fold it into the node look for it.

use tract_core::ops::binary::TypedBinOp;
use tract_hir::internal::*;

/// `node`'s only consumer, if `node` is not a model output and the consumer is a binary operator:
/// the consumer, its operator and its other operand.
pub fn binary_consumer<'a>(
  model: &'a TypedModel,
  node: &TypedNode,
) -> TractResult<Option<(&'a TypedNode, &'a TypedBinOp, OutletId)>> {
  if model.output_outlets()?.contains(&node.id.into()) {
    return Ok(None);
  }
  let Some(consumer) = model.single_succ(node.id)? else { return Ok(None) };
  let Some(bin) = consumer.op_as::<TypedBinOp>() else { return Ok(None) };
  let operand = match consumer.inputs[..] {
    [a, b] if a == node.id.into() => b,
    [a, b] if b == node.id.into() => a,
    _ => return Ok(None),
  };
  Ok(Some((consumer, bin, operand)))
}

/// [`binary_consumer`], when the other operand is a constant: the consumer, its operator and that
/// constant.
pub fn binary_with_constant<'a>(
  model: &'a TypedModel,
  node: &TypedNode,
) -> TractResult<Option<(&'a TypedNode, &'a TypedBinOp, Arc<Tensor>)>> {
  let Some((consumer, bin, operand)) = binary_consumer(model, node)? else { return Ok(None) };
  let constant = model.outlet_fact(operand)?.konst.clone();
  Ok(constant.map(|constant| (consumer, bin, constant)))
}
