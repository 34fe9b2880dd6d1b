//! Which f32 matrix-product kernel tract runs on AVX-512 machines, for products of known shape
//! with at least 24 columns and a depth of at least 256.
//!
//! tract picks an AVX-512 kernel from a cost model fitted on other Intel machines. On the Xeons
//! this was measured on (`scripts/kernels`) it picks the 16 × 8 and 16 × 12 tiles, and the 32 × 6
//! tile is 10–15 % faster: fewer loads per multiply-add (2 vectors and 6 broadcasts feed 12 of
//! them). With fewer columns the tile's padding costs more than it gains, and so does packing at
//! small depths; those products are left to tract's model.
//!
//! The choice goes in as a dispatch tier above tract's own (tract asks tiers by precedence and
//! takes the first answer the product can use); a product the 32 × 6 kernel cannot run, such as
//! mixed precision, falls through to tract's tiers.

#[cfg(target_arch = "x86_64")]
mod x86_64 {
  use tract_hir::internal::DatumType;
  use tract_linalg::isa::{Arch, Isa, IsaSet};
  use tract_linalg::mmm::{Query, Suitable};
  use tract_linalg::mmm_tiers::MmmTier;

  /// The kernel this tier names.
  pub(super) const WIDE_TILE: &str = "avx512_mmm_f32_32x6";
  /// Columns from which the 32 × 6 tile wins whatever the rows.
  pub(super) const MIN_COLUMNS: usize = 24;
  /// Depth from which it won in every product measured (see the module doc for one below it).
  pub(super) const MIN_DEPTH: usize = 256;

  /// The tier's answer: [`WIDE_TILE`] for f32 products of known rows, at least [`MIN_COLUMNS`]
  /// columns and [`MIN_DEPTH`] depth; no opinion otherwise.
  pub(super) fn preferred(
    _isa: &IsaSet,
    accumulator: DatumType,
    query: &Query,
    _suitable: &[Suitable],
  ) -> Option<&'static str> {
    let wide = query.m.is_some() && query.n.is_some_and(|n| n >= MIN_COLUMNS);
    let deep = query.k.is_some_and(|k| k >= MIN_DEPTH);
    (accumulator == DatumType::F32 && wide && deep).then_some(WIDE_TILE)
  }

  inventory::submit! {
    MmmTier {
      arch: Some(Arch::X86_64),
      // Above every tier tract declares for x86_64 (1–8).
      precedence: 9,
      name: "tract-node-avx512-f32",
      applies: |isa| isa.has(Isa::X86_64Avx512f) && isa.has(Isa::X86_64Fma),
      preferred,
    }
  }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
  use super::x86_64::*;
  use tract_hir::internal::*;
  use tract_linalg::mmm::Query;
  use tract_onnx::tract_core::ops::einsum::EinSum;

  fn choice(m: usize, k: usize, n: Option<usize>) -> Option<&'static str> {
    let query = Query::plain(DatumType::F32, Some(m), Some(k), n);
    preferred(&tract_linalg::isa::native(), DatumType::F32, &query, &[])
  }

  #[test]
  fn wide_deep_products_get_the_32_by_6_tile_and_the_rest_is_left_to_tract() {
    assert_eq!(choice(512, 784, Some(64)), Some(WIDE_TILE));
    assert_eq!(choice(512, 4608, Some(16)), None);
    assert_eq!(choice(64, 147, Some(3136)), None);
    assert_eq!(choice(512, 784, None), None);
    let integer = Query::plain(DatumType::I32, Some(512), Some(784), Some(64));
    assert_eq!(preferred(&tract_linalg::isa::native(), DatumType::I32, &integer, &[]), None);
  }

  fn weight(row: usize, column: usize) -> f32 {
    ((row * 7 + column * 3) % 23) as f32 / 23.0 - 0.5
  }

  fn input(row: usize, column: usize) -> f32 {
    ((row * 5 + column * 11) % 19) as f32 / 19.0 - 0.5
  }

  #[test]
  fn a_product_optimised_by_tract_runs_on_the_tier_kernel_and_matches_a_plain_sum() {
    // 40 rows (not a multiple of 6), 300 deep, 70 columns of weights (not a multiple of 32).
    let (rows, depth, columns) = (40, 300, 70);
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([rows, depth])).unwrap();
    let weights = tract_ndarray::Array2::from_shape_fn((depth, columns), |(r, c)| weight(r, c));
    let w = model.add_const("w", weights.into_tensor()).unwrap();
    let einsum = EinSum::new("mk,kn->mn".parse().unwrap(), f32::datum_type());
    let y = model.wire_node("y", einsum, &[x, w]).unwrap();
    model.select_output_outlets(&y).unwrap();
    crate::cpu::selection();
    let model = model.into_optimized().unwrap();
    if tract_linalg::isa::native().has(tract_linalg::isa::Isa::X86_64Avx512f) {
      let kernels: Vec<String> =
        model.nodes().iter().flat_map(|node| node.op().info().unwrap()).collect();
      assert!(kernels.iter().any(|line| line.contains(WIDE_TILE)), "{kernels:?}");
    }
    let x = tract_ndarray::Array2::from_shape_fn((rows, depth), |(r, c)| input(r, c));
    let y = model.into_runnable().unwrap().run(tvec!(x.into_tvalue())).unwrap();
    let y = y[0].to_plain_array_view::<f32>().unwrap();
    let y = y.into_dimensionality::<tract_ndarray::Ix2>().unwrap();
    for ((row, column), value) in y.indexed_iter() {
      let want: f64 = (0..depth).map(|k| input(row, k) as f64 * weight(k, column) as f64).sum();
      assert!((*value as f64 - want).abs() < 1e-4, "[{row}, {column}]: {value} vs {want}");
    }
  }
}
