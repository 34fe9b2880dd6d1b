//! Hard-swish, `x · clip(x + 3, 0, 6) / 6`, in one pass. Exporters spell it out (PaddleOCR's models:
//! `Add`, `Clip`, `Mul`, `Div`, often followed by an affine `Add`), and tract runs it as two
//! element-wise chains: one reads `x` and writes the clipped value, the other reads both and writes
//! the result. Here the whole chain reads `x` once and writes once, in the same order of f32
//! operations (the real-model zoo's outputs differ from onnxruntime's exactly as much as before),
//! split over the intra-op threads as tract splits element-wise work.

use tract_core::ops::binary::TypedBinOp;
use tract_hir::internal::*;

use super::in_place::{F32Map, InPlace};

/// `x · clamp(x + shift, low, high) · scale + offset`, element-wise on f32.
#[derive(Debug, Clone)]
pub struct HardSwish {
  shift: f32,
  low: f32,
  high: f32,
  scale: f32,
  offset: f32,
}

// Compared and hashed by bits, so that equality is reflexive (tract hashes and compares ops).
impl PartialEq for HardSwish {
  fn eq(&self, other: &Self) -> bool {
    self.bits() == other.bits()
  }
}

impl Eq for HardSwish {}

impl std::hash::Hash for HardSwish {
  fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
    self.bits().hash(state);
  }
}

impl HardSwish {
  fn bits(&self) -> [u32; 5] {
    [self.shift, self.low, self.high, self.scale, self.offset].map(f32::to_bits)
  }

  /// One value, in tract's order: the clip chain, then the products and the sum. (A NaN `x` gives
  /// NaN whichever way the clip treats it.)
  #[inline]
  fn apply(&self, x: f32) -> f32 {
    let shifted = x + self.shift;
    let above = if shifted < self.low { self.low } else { shifted };
    let clipped = if above > self.high { self.high } else { above };
    x * clipped * self.scale + self.offset
  }
}

impl F32Map for HardSwish {
  const NAME: &'static str = "HardSwish";

  fn map(&self, values: &mut [f32]) -> TractResult<()> {
    values.iter_mut().for_each(|x| *x = self.apply(*x));
    Ok(())
  }
}

/// The binary operation `node` applies with a uniform f32 constant (broadcast to nothing wider
/// than the other operand): its name, the other operand, and the constant.
fn with_constant(model: &TypedModel, node: &TypedNode) -> Option<(StaticName, OutletId, f32)> {
  let op = node.op_as::<TypedBinOp>()?;
  let [a, b] = node.inputs[..] else { return None };
  let output = &model.outlet_fact(OutletId::new(node.id, 0)).ok()?.shape;
  for (other, constant) in [(a, b), (b, a)] {
    let fact = model.outlet_fact(constant).ok()?;
    let value = fact.uniform.as_ref().filter(|_| fact.konst.is_some())?;
    let same_shape = model.outlet_fact(other).ok()?.shape == *output;
    if same_shape && fact.datum_type == f32::datum_type() {
      let value = *value.try_as_plain_ram().ok()?.to_scalar::<f32>().ok()?;
      return Some((op.0.name().into(), other, value));
    }
  }
  None
}

/// The node consuming `outlet`, when it is the only one.
fn only_successor(model: &TypedModel, outlet: OutletId) -> Option<&TypedNode> {
  match model.outlet_successors(outlet) {
    [only] => Some(model.node(only.node)),
    _ => None,
  }
}

/// The chain `Add(x, shift) → Max(low) → Min(high) → Mul(x) [→ Mul(scale)] [→ Add(offset)]` starting
/// at the `Add` node `start`: the fused op, `x`, and the chain's last node.
fn chain(model: &TypedModel, start: &TypedNode) -> Option<(HardSwish, OutletId, usize)> {
  let (add, x, shift) = with_constant(model, start)?;
  let step = |node: &TypedNode, name: &str| {
    let next = only_successor(model, OutletId::new(node.id, 0))?;
    let (op, from, value) = with_constant(model, next)?;
    (op == name && from == OutletId::new(node.id, 0)).then_some((next, value))
  };
  (add == "Add" && model.outlet_fact(x).ok()?.datum_type == f32::datum_type()).then_some(())?;
  let (max, low) = step(start, "Max")?;
  let (min, high) = step(max, "Min")?;
  let product = only_successor(model, OutletId::new(min.id, 0))?;
  let clipped = OutletId::new(min.id, 0);
  let is_product = product.op_as::<TypedBinOp>().is_some_and(|op| op.0.name() == "Mul")
    && (product.inputs[..] == [x, clipped] || product.inputs[..] == [clipped, x]);
  is_product.then_some(())?;
  let mut op = HardSwish { shift, low, high, scale: 1.0, offset: 0.0 };
  let mut last = product;
  if let Some((next, scale)) = step(last, "Mul") {
    (op.scale, last) = (scale, next);
  }
  if let Some((next, offset)) = step(last, "Add") {
    (op.offset, last) = (offset, next);
  }
  Some((op, x, last.id))
}

/// Replaces every hard-swish chain (see the module doc) by one [`HardSwish`] operator. Call on a
/// decluttered model, before `optimize`.
pub fn fuse_hard_swishes(model: &mut TypedModel) -> TractResult<()> {
  let binary_ops: Vec<usize> =
    model.nodes().iter().filter(|n| n.op_is::<TypedBinOp>()).map(|n| n.id).collect();
  for id in binary_ops {
    let Some((op, x, last)) = chain(model, model.node(id)) else { continue };
    let mut patch = TypedModelPatch::default();
    let x = patch.tap_model(model, x)?;
    let name = format!("{}.hard_swish", model.node(id).name);
    let fused = patch.wire_node(name, InPlace(op), &[x])?;
    patch.shunt_outside(model, OutletId::new(last, 0), fused[0])?;
    patch.apply(model)?;
  }
  model.compact()
}

#[cfg(test)]
mod tests {
  use super::*;
  use tract_core::ops::math::{add, max, min, mul};

  /// `x · clip(x + 3, 0, 6) · (1/6) + 0.25` wired as an exporter spells it, on `[2, 3, 4]`.
  fn spelled_out() -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([2, 3, 4])).unwrap();
    let mut constant =
      |name: &str, value: f32| model.add_const(name, tensor3(&[[[value]]])).unwrap();
    let (three, zero, six, sixth, quarter) = (
      constant("three", 3.0),
      constant("zero", 0.0),
      constant("six", 6.0),
      constant("sixth", 1.0 / 6.0),
      constant("quarter", 0.25),
    );
    let shifted = model.wire_node("shift", add(), &[x, three]).unwrap();
    let low = model.wire_node("low", max(), &[shifted[0], zero]).unwrap();
    let high = model.wire_node("high", min(), &[low[0], six]).unwrap();
    let product = model.wire_node("product", mul(), &[high[0], x]).unwrap();
    let scaled = model.wire_node("scale", mul(), &[product[0], sixth]).unwrap();
    let y = model.wire_node("offset", add(), &[scaled[0], quarter]).unwrap();
    model.select_output_outlets(&y).unwrap();
    model
  }

  #[test]
  fn a_spelled_out_hard_swish_becomes_one_op_with_the_same_values() {
    let mut model = spelled_out();
    fuse_hard_swishes(&mut model).unwrap();
    let ops: Vec<String> = model.nodes().iter().map(|n| n.op().name().to_string()).collect();
    assert_eq!(ops.iter().filter(|op| *op != "Const").collect::<Vec<_>>(), ["Source", "HardSwish"]);
    let x: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 6.0).collect();
    let input = tract_ndarray::ArrayD::from_shape_vec(vec![2, 3, 4], x.clone()).unwrap();
    let y = model.into_runnable().unwrap().run(tvec!(input.into_tvalue())).unwrap();
    let y = y[0].to_plain_array_view::<f32>().unwrap();
    for (x, y) in x.iter().zip(y.iter()) {
      let want = *x as f64 * (*x as f64 + 3.0).clamp(0.0, 6.0) / 6.0 + 0.25;
      assert!((*y as f64 - want).abs() < 1e-6, "hard-swish({x}) = {y}, expected {want}");
    }
  }

  #[test]
  fn a_chain_whose_clipped_value_is_read_elsewhere_stays_as_it_is() {
    let mut model = spelled_out();
    let high = model.node_by_name("high").unwrap().id;
    let extra =
      model.wire_node("extra", mul(), &[OutletId::new(high, 0), OutletId::new(high, 0)]).unwrap();
    let mut outputs = model.output_outlets().unwrap().to_vec();
    outputs.push(extra[0]);
    model.select_output_outlets(&outputs).unwrap();
    fuse_hard_swishes(&mut model).unwrap();
    assert!(!model.nodes().iter().any(|n| n.op_is::<InPlace<HardSwish>>()));
  }
}
