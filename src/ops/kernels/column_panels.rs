//! Weights packed for matrix-vector products: `y = x · W` for a vector `x` of `k` values and a
//! constant `k × n` matrix `W`, with `W` stored as panels of [`PANEL`] columns, each panel `k` rows
//! of [`PANEL`] contiguous values. A panel's product keeps its [`PANEL`] sums in registers and reads
//! the panel once, front to back; a range of panels is one contiguous block of memory, which a
//! thread that always computes the same range keeps in its own cache.

use std::ops::Range;

use crate::cpu::Tier;

/// Columns per panel: 8 AVX registers of sums, or 16 SSE/NEON ones.
pub const PANEL: usize = 64;

/// A `k × n` matrix packed in panels of [`PANEL`] columns (the last one padded with zeros).
#[derive(Debug)]
pub struct ColumnPanels {
  k: usize,
  n: usize,
  values: Vec<f32>,
}

impl ColumnPanels {
  /// Packs the matrix whose value at row `r`, column `c` is `at(r, c)`.
  pub fn pack(k: usize, n: usize, at: impl Fn(usize, usize) -> f32) -> ColumnPanels {
    let panels = n.div_ceil(PANEL);
    let mut values = vec![0f32; panels * k * PANEL];
    for (panel, block) in values.chunks_exact_mut(k * PANEL).enumerate() {
      for (row, lanes) in block.chunks_exact_mut(PANEL).enumerate() {
        for (lane, value) in lanes.iter_mut().enumerate() {
          let column = panel * PANEL + lane;
          if column < n {
            *value = at(row, column);
          }
        }
      }
    }
    ColumnPanels { k, n, values }
  }

  /// Rows (the length of `x`).
  pub fn rows(&self) -> usize {
    self.k
  }

  /// Columns (the length of `y`).
  pub fn columns(&self) -> usize {
    self.n
  }

  /// Number of panels.
  pub fn panels(&self) -> usize {
    self.n.div_ceil(PANEL)
  }

  /// The columns panels `panels` cover.
  pub fn columns_of(&self, panels: &Range<usize>) -> Range<usize> {
    (panels.start * PANEL).min(self.n)..(panels.end * PANEL).min(self.n)
  }

  /// Writes `x · W` for the columns of `panels` into `y` (of their length), on `tier`'s kernel.
  ///
  /// # Safety
  /// The CPU runs `tier`.
  pub unsafe fn product(&self, tier: Tier, x: &[f32], panels: Range<usize>, y: &mut [f32]) {
    assert_eq!(x.len(), self.k, "vector length");
    assert_eq!(y.len(), self.columns_of(&panels).len(), "output length");
    let block = self.k * PANEL;
    for (panel, y) in panels.zip(y.chunks_mut(PANEL)) {
      // SAFETY: as the caller guarantees.
      let sums =
        unsafe { panel_product(tier, &self.values[panel * block..(panel + 1) * block], x) };
      y.copy_from_slice(&sums[..y.len()]);
    }
  }
}

/// `x · panel`, compiled for `tier`.
///
/// # Safety
/// The CPU runs `tier`.
unsafe fn panel_product(tier: Tier, panel: &[f32], x: &[f32]) -> [f32; PANEL] {
  // SAFETY (each arm): as the caller guarantees.
  match tier {
    #[cfg(target_arch = "x86_64")]
    Tier::Avx512 => unsafe { panel_product_avx512(panel, x) },
    #[cfg(target_arch = "x86_64")]
    Tier::Avx2 => unsafe { panel_product_avx2(panel, x) },
    // Every aarch64 CPU has fused multiply-adds.
    Tier::Neon => sums::<true>(panel, x),
    _ => sums::<false>(panel, x),
  }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn panel_product_avx512(panel: &[f32], x: &[f32]) -> [f32; PANEL] {
  sums::<true>(panel, x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_product_avx2(panel: &[f32], x: &[f32]) -> [f32; PANEL] {
  sums::<true>(panel, x)
}

/// The panel's column sums, each row scaled by its `x` value; `FUSED` uses fused multiply-adds
/// (only where the CPU has them: elsewhere `mul_add` is a library call).
#[inline(always)]
fn sums<const FUSED: bool>(panel: &[f32], x: &[f32]) -> [f32; PANEL] {
  let mut sums = [0f32; PANEL];
  for (row, &scale) in panel.chunks_exact(PANEL).zip(x) {
    for (sum, &value) in sums.iter_mut().zip(row) {
      *sum = if FUSED { value.mul_add(scale, *sum) } else { *sum + value * scale };
    }
  }
  sums
}

#[cfg(test)]
mod tests {
  use super::*;

  /// `x · W` in f64, column by column: the reference.
  fn reference(x: &[f32], k: usize, n: usize, at: impl Fn(usize, usize) -> f32) -> Vec<f64> {
    (0..n).map(|c| (0..k).map(|r| x[r] as f64 * at(r, c) as f64).sum()).collect()
  }

  crate::cpu::test_each_tier! {
    fn products_match_a_plain_sum_for_any_panel_range(tier: Tier) {
      let (k, n) = (37, 150); // a partial last panel
      let at = |r: usize, c: usize| ((r * 31 + c * 17) % 23) as f32 * 0.1 - 1.0;
      let x: Vec<f32> = (0..k).map(|i| (i as f32 * 0.37).sin()).collect();
      let panels = ColumnPanels::pack(k, n, at);
      assert_eq!((panels.rows(), panels.columns(), panels.panels()), (k, n, 3));
      let expected = reference(&x, k, n, at);
      for range in [0..3, 0..1, 1..3, 2..3] {
        let columns = panels.columns_of(&range);
        let mut y = vec![f32::NAN; columns.len()];
        // SAFETY: the CPU runs the tier (the test is skipped otherwise).
        unsafe { panels.product(tier, &x, range, &mut y) };
        for (value, want) in y.iter().zip(&expected[columns]) {
          assert!((*value as f64 - want).abs() < 1e-4, "{value} vs {want}");
        }
      }
  }
  }
}
