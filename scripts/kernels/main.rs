//! How fast each f32 matrix-product kernel tract has for this CPU multiplies an `m × k` matrix by a
//! `k × n` one, operands packed (what `src/ops/kernels/mmm_tier.rs` was measured with). Developer tool:
//!
//!   cargo run --release --target x86_64-unknown-linux-gnu --no-default-features --features profile --example kernels -- \
//!     512 784 64
//!
//! Prints the best of 7 rounds of 20 products per kernel.

use std::time::Instant;

use tract_hir::internal::*;
use tract_linalg::mmm::{AsInputValue, FusedSpec, MatMatMul};

fn main() -> TractResult<()> {
  let dims: Vec<usize> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
  let [m, k, n] = dims[..] else { bail!("usage: kernels M K N") };
  let a = tract_ndarray::Array2::from_shape_fn((m, k), |(r, c)| ((r + c) % 17) as f32 / 16.0);
  let b = tract_ndarray::Array2::from_shape_fn((k, n), |(r, c)| ((r + c) % 13) as f32 / 13.0);
  let (a, b) = (a.into_tensor(), b.into_tensor());
  for kernel in tract_linalg::mmm_routines::runnable_for(&tract_linalg::isa::native()) {
    let plain_f32 = |format: String| format.contains("F32") && !format.contains("F16");
    let (pack_a, pack_b) = &kernel.packings()[0];
    let f32_kernel = kernel.internal_type() == f32::datum_type() && kernel.built();
    if f32_kernel && plain_f32(format!("{pack_a:?}")) && plain_f32(format!("{pack_b:?}")) {
      let ms = best_of_rounds(
        &*kernel,
        &*pack_a.prepare_one(&a, 1, 0)?,
        &*pack_b.prepare_one(&b, 0, 1)?,
        m,
        n,
      )?;
      let gflops = 2.0 * (m * k * n) as f64 / ms / 1e6;
      println!("{:<28} {ms:>8.3} ms {gflops:>7.1} GFLOP/s", kernel.name());
    }
  }
  Ok(())
}

/// Milliseconds per product, best of 7 rounds of 20.
fn best_of_rounds(
  kernel: &dyn MatMatMul,
  a: &dyn tract_linalg::mmm::MMMInputValue,
  b: &dyn tract_linalg::mmm::MMMInputValue,
  m: usize,
  n: usize,
) -> TractResult<f64> {
  let mut c = Tensor::zero::<f32>(&[m, n])?;
  // SAFETY: `c` is an m × n f32 tensor, the shape the store spec describes.
  let store = unsafe { kernel.c_view(Some(0), Some(1)) };
  let mut best = f64::MAX;
  for _ in 0..7 {
    let start = Instant::now();
    for _ in 0..20 {
      let view = c.view_mut();
      let a = AsInputValue::Borrowed(a);
      let b = AsInputValue::Borrowed(b);
      // SAFETY: the view outlives the run, and the packed operands are k deep for this kernel.
      let ops = tvec!(
        FusedSpec::AddMatMul { a, b, packing: 0 },
        FusedSpec::Store(unsafe { store.wrap(&view) })
      );
      unsafe { kernel.run(m, n, &ops)? };
    }
    best = best.min(start.elapsed().as_secs_f64() * 1e3 / 20.0);
  }
  Ok(best)
}
