//! Exact GELU, `x · (1 + erf(x / √2)) / 2`, on f32, run from tract-node's code. tract-core is built
//! for size (the `dist` profile in Cargo.toml), and at that level the compiler leaves the loops of
//! tract's `GeluExact` around the erf kernel scalar: in transformer encoders that op became the
//! slowest after the matrix products. This op runs the same f32 operations in the same order (its
//! outputs are tract's, bit for bit) with the loops vectorised, split over the intra-op threads as
//! tract splits element-wise work.

use tract_core::ops::element_wise::ElementWiseOp;
use tract_core::ops::nn::GeluExact as TractGeluExact;
use tract_hir::internal::*;
use tract_linalg::routines::Func;

use super::in_place::{F32Map, InPlace};

/// Values per call of the erf kernel: a scratch buffer of them stays on the stack.
const CHUNK: usize = 1024;

/// Exact GELU of f32 values (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GeluExact;

impl F32Map for GeluExact {
  const NAME: &'static str = "GeluExactF32";

  fn map(&self, values: &mut [f32]) -> TractResult<()> {
    let erf = Func::Erf.ew_f32()?;
    // tract's constant, computed as tract computes it.
    let inv_sqrt2 = 2f32.sqrt().recip();
    let mut scratch = [0f32; CHUNK];
    for part in values.chunks_mut(CHUNK) {
      let scaled = &mut scratch[..part.len()];
      scaled.iter_mut().zip(part.iter()).for_each(|(s, x)| *s = *x * inv_sqrt2);
      erf.run(scaled)?;
      part.iter_mut().zip(scaled.iter()).for_each(|(x, e)| *x = (*x * 0.5) * (*e + 1.0));
    }
    Ok(())
  }
}

/// Replaces tract's f32 `GeluExact` nodes (which its declutter makes of ONNX `Gelu` and of the
/// spelled-out `Erf` chain) by [`GeluExact`] operators. Call on a decluttered model, before
/// `optimize`.
pub fn replace_gelu_exacts(model: &mut TypedModel) -> TractResult<()> {
  let is_f32_gelu = |node: &TypedNode| {
    node.op_as::<ElementWiseOp>().is_some_and(|op| op.0.is::<TractGeluExact>() && op.1.is_none())
      && model.outlet_fact(node.inputs[0]).is_ok_and(|f| f.datum_type == f32::datum_type())
  };
  let gelus: Vec<usize> = model.nodes().iter().filter(|n| is_f32_gelu(n)).map(|n| n.id).collect();
  for id in gelus {
    let node = model.node(id);
    let patch = TypedModelPatch::replace_single_op(model, node, &node.inputs, InPlace(GeluExact))?;
    patch.apply(model)?;
  }
  Ok(())
}

#[cfg(test)]
mod tests {
  use super::*;

  /// The exact GELU in f64, independent of tract's erf kernel.
  fn gelu_f64(x: f64) -> f64 {
    0.5 * x * (1.0 + erf_f64(x / std::f64::consts::SQRT_2))
  }

  /// erf to ~1e-15 (Abramowitz–Stegun 7.1.5 series for |z| < 3, 7.1.14 continued fraction above).
  fn erf_f64(z: f64) -> f64 {
    let a = z.abs();
    let value = if a < 3.0 {
      let (mut term, mut sum, mut n) = (a, a, 0.0);
      while term.abs() > 1e-17 * sum.abs() {
        n += 1.0;
        term *= -a * a / n;
        sum += term / (2.0 * n + 1.0);
      }
      sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
      let mut fraction = 0.0;
      for k in (1..60).rev() {
        fraction = (k as f64 / 2.0) / (a + fraction);
      }
      1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + fraction)
    };
    value.copysign(z)
  }

  /// `y = Gelu(x)` on `[rows, 1000]`, as tract's declutter leaves it.
  fn gelu_model(rows: usize) -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([rows, 1000])).unwrap();
    let op = tract_core::ops::nn::gelu_exact::gelu_exact();
    let y = model.wire_node("gelu", op, &[x]).unwrap();
    model.select_output_outlets(&y).unwrap();
    model
  }

  #[test]
  fn tracts_gelu_becomes_this_op_with_the_exact_values() {
    // 3 rows of 1,000: more than one erf chunk, and a part shorter than one.
    let mut model = gelu_model(3);
    replace_gelu_exacts(&mut model).unwrap();
    assert!(model.nodes().iter().any(|n| n.op_is::<InPlace<GeluExact>>()));
    assert!(!model.nodes().iter().any(|n| n.op_is::<ElementWiseOp>()));
    let x: Vec<f32> = (0..3000).map(|i| (i as f32 - 1500.0) / 150.0).collect();
    let input = tract_ndarray::ArrayD::from_shape_vec(vec![3, 1000], x.clone()).unwrap();
    let y = model.into_runnable().unwrap().run(tvec!(input.into_tvalue())).unwrap();
    let y = y[0].to_plain_array_view::<f32>().unwrap();
    for (x, y) in x.iter().zip(y.iter()) {
      let want = gelu_f64(*x as f64);
      assert!(
        (*y as f64 - want).abs() < 1e-5 * want.abs().max(1.0),
        "gelu({x}) = {y}, expected {want}"
      );
    }
  }

  #[test]
  fn the_values_are_tracts_bit_for_bit() {
    let x: Vec<f32> = (0..5000).map(|i| ((i * 7919) % 10007) as f32 / 500.0 - 10.0).collect();
    let input = tract_ndarray::ArrayD::from_shape_vec(vec![5, 1000], x).unwrap();
    let run = |model: TypedModel| {
      let y = model.into_runnable().unwrap().run(tvec!(input.clone().into_tvalue())).unwrap();
      y[0].to_plain_array_view::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    let mut replaced = gelu_model(5);
    replace_gelu_exacts(&mut replaced).unwrap();
    assert_eq!(run(replaced), run(gelu_model(5)));
  }
}
